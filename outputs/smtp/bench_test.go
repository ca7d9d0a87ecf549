package smtp

import (
	"io"
	"testing"
)

// BenchmarkMessage builds and renders one multipart mail, as Send does
// before it connects.
func BenchmarkMessage(b *testing.B) {
	c := NewConfig()
	c.HostPort, c.From, c.To, c.TLS = "127.0.0.1:25", "n@example.com", "s@example.com", "none"
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	o, err := c.New()
	if err != nil {
		b.Fatal(err)
	}
	s := o.(*SMTP)
	a := testAlert()
	b.ReportAllocs()
	for b.Loop() {
		m, err := s.message(a)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
