package opsgenie

import "testing"

func BenchmarkNewPayload(b *testing.B) {
	c := NewConfig()
	c.APIKey = apiKey
	o, err := c.New()
	if err != nil {
		b.Fatal(err)
	}
	a := testAlert()
	b.ReportAllocs()
	for b.Loop() {
		o.(*Opsgenie).NewPayload(a)
	}
}
