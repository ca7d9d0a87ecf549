// Package paced posts the same request body to an HTTP endpoint open loop
// at a fixed rate, as the sidekick benchmarks need: request i is due at
// i/rate whatever happened to the earlier ones, and its latency counts from
// when it was due, so a stall anywhere (the sender included) shows.
package paced

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Result is what a paced run measured.
type Result struct {
	Latencies []time.Duration // sorted; one per request that got an answer
	Sent      time.Duration   // from the first due time until the last answer
	Failed    int             // transport errors and answers other than 200
}

// Percentile returns the latency below which the fraction p of requests
// answered (p in [0, 1)).
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[int(float64(len(r.Latencies))*p)]
}

// Post sends n POSTs of body (application/json) to url at rate per second
// over workers keep-alive connections.
func Post(url string, body []byte, n, rate, workers int) Result {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	lat := make([]time.Duration, n)
	ok := make([]bool, n)
	next := make(chan int, workers)
	var wg sync.WaitGroup
	start := time.Now()
	due := func(i int) time.Time { return start.Add(time.Duration(i) * time.Second / time.Duration(rate)) }
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i], ok[i] = time.Since(due(i)), resp.StatusCode == http.StatusOK
			}
		}()
	}
	for i := range n {
		if d := time.Until(due(i)); d > 0 {
			time.Sleep(d)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	r := Result{Sent: time.Since(start)}
	for i := range n {
		if !ok[i] {
			r.Failed++
			continue
		}
		r.Latencies = append(r.Latencies, lat[i])
	}
	slices.Sort(r.Latencies)
	return r
}
