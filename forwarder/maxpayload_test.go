package forwarder

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/forwarder/config"
	"github.com/nightjar-sec/nightjar/forwarder/queue/queuetest"
)

// A bodylimit above what the queue's NATS server takes in one message
// (max_payload) stops start-up, naming bodylimit and both sizes: alerts
// between the two would pass the API's limit and then fail to store.
func TestBodyLimitAboveMaxPayloadStopsStartup(t *testing.T) {
	ns := queuetest.Server(t, 64<<10)
	for _, c := range []struct {
		bodylimit string
		ok        bool
	}{{"1048576", false}, {"65537", false}, {"65536", true}} {
		cfg, err := config.Parse(nil, []string{"QUEUE_URL=" + ns.ClientURL(), "BODYLIMIT=" + c.bodylimit}, OutputTypes)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sk, err := New(context.Background(), Options{Config: cfg, Listener: ln})
		if c.ok {
			if err != nil {
				t.Fatalf("bodylimit %s: %v", c.bodylimit, err)
			}
			sk.Shutdown(context.Background())
			continue
		}
		if err == nil {
			sk.Shutdown(context.Background())
			t.Fatalf("bodylimit %s above max_payload 65536: started", c.bodylimit)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "bodylimit: ") || !strings.Contains(msg, c.bodylimit) || !strings.Contains(msg, "65536") {
			t.Fatalf("bodylimit %s: error %q does not name bodylimit and both sizes", c.bodylimit, msg)
		}
	}
}
