package slack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nightjar-sec/nightjar/outputs"
)

func BenchmarkMessage(b *testing.B) {
	a := testAlert()
	f := &Format{Username: DefaultUsername, Footer: DefaultFooter, OutputFormat: FormatAll}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Message(a, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendWebhook is one delivery through slack-go to a local server:
// the output's own cost per alert, without the network.
func BenchmarkSendWebhook(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	c := NewConfig()
	c.WebhookURL = outputs.SecretURL(srv.URL + hookPath)
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	o, err := c.New()
	if err != nil {
		b.Fatal(err)
	}
	a := testAlert()
	b.ReportAllocs()
	for b.Loop() {
		if err := o.Send(context.Background(), a); err != nil {
			b.Fatal(err)
		}
	}
}
