package queue

import (
	"strings"
	"testing"
)

func TestValidateNeverEchoesCredentials(t *testing.T) {
	for _, u := range []string{
		"nats//user:s3cretpw@127.0.0.1:4222",                  // missing ':' after the scheme
		"nats:/user:s3cretpw@127.0.0.1:4222",                  // one slash
		"nats://127.0.0.1:4222, nats//user:s3cretpw@10.0.0.2", // the second entry is the bad one
		"smtp://user:s3cretpw@127.0.0.1:4222",                 // parses, wrong scheme
		"nats://user:s3cretpw@",                               // no host
		"nats://s3cretpw@%zz",                                 // does not parse
	} {
		c := DefaultConfig()
		c.URL = u
		err := c.Validate()
		if err == nil {
			t.Errorf("queue.url %q: accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("queue.url %q: error shows the password: %v", u, err)
		}
		if !strings.HasPrefix(err.Error(), "queue.url: ") {
			t.Errorf("queue.url %q: error does not name the key: %v", u, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://user:pw@host:4222":            "nats://<secret>@host:4222",
		"nats://token@host:4222":              "nats://<secret>@host:4222",
		"nats://host:4222":                    "nats://host:4222",
		"nats//user:pw@host:4222":             "<secret>@host:4222",
		"nats://a:1,tls://u:p@b:2":            "nats://a:1,tls://<secret>@b:2",
		"nats://u:p@%zz":                      "nats://<secret>@%zz",
		"nats://host:4222, nats:/user:pw@b:2": "nats://host:4222,<secret>@b:2",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEmbeddedOnlySettingsRefusedWithURL(t *testing.T) {
	c := DefaultConfig()
	c.URL = "nats://127.0.0.1:4222"
	c.Port = 4223
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "queue.port: ") {
		t.Errorf("queue.port with queue.url: %v, want an error naming queue.port", err)
	}
	c.Port = 0
	c.Sync = true
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "queue.sync: ") {
		t.Errorf("queue.sync with queue.url: %v, want an error naming queue.sync", err)
	}
	c.Sync = false
	if err := c.Validate(); err != nil {
		t.Errorf("queue.url alone: %v", err)
	}
}
