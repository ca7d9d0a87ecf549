package datadog

import "testing"

func BenchmarkEvent(b *testing.B) {
	a := testAlert()
	b.ReportAllocs()
	for b.Loop() {
		Event(a)
	}
}
