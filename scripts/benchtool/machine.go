package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"time"
)

// runMachine measures what this machine charges for the operations the
// sidekick repeats for every alert, so that a run's numbers can be read
// against the machine it ran on:
//
//   - a system call that does nothing (getppid);
//   - waking a goroutine: a busy goroutine hands a value to one that waits,
//     once per 50 µs of spinning, with GOMAXPROCS=1 (the waiter runs on the
//     same P, once the sender blocks or is preempted) and GOMAXPROCS=2 (the
//     runtime wakes a thread for the idle P, which looks for work, finds
//     little and sleeps again). The CPU beyond the busy work
//     is the price of the hand-off. The sidekick makes about fifteen per
//     alert (HTTP connection, NATS client and server loops, JetStream's
//     stream loop, delivery workers, the HTTP client's loops);
//   - a loopback TCP exchange of 512 bytes each way, as in one HTTP request
//     and answer (two per alert: the ingest and the delivery).
//
// Each is measured twice (the hand-offs alternating 1, 2, 1, 2), so that a
// reader sees how much one measurement moves.
func runMachine(args []string) error {
	fs := flag.NewFlagSet("benchtool machine", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	for range 2 {
		fmt.Printf("machine: null system call %.2f µs\n", nullSyscall(200000).Seconds()*1e6)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 1, 2} {
		runtime.GOMAXPROCS(procs)
		// The spin's own cost varies a little between its two
		// stretches: on one P the difference can come out just below 0.
		fmt.Printf("machine: goroutine hand-off every 50 µs, GOMAXPROCS=%d: %.1f CPU-µs each\n",
			procs, max(0, handOff(10000, 50*time.Microsecond).Seconds()*1e6))
	}
	for range 2 {
		d, err := tcpExchange(10000, 512)
		if err != nil {
			return err
		}
		fmt.Printf("machine: loopback TCP exchange (512 B each way): %.1f CPU-µs each\n", d.Seconds()*1e6)
	}
	return nil
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// nullSyscall is the wall time of one getppid, without Go's bookkeeping
// around blocking calls.
func nullSyscall(n int) time.Duration {
	start := time.Now()
	for range n {
		syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
	}
	return time.Since(start) / time.Duration(n)
}

// handOff is the CPU a hand-off costs: a goroutine spins for gap, then sends
// on a channel another goroutine waits on; the spinning is subtracted.
func handOff(n int, gap time.Duration) time.Duration {
	ch := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	// Spin a measured stretch first, so that the spin's own cost (the
	// clock reads) is not counted as hand-off.
	spin := func() {
		for s := time.Now(); time.Since(s) < gap; {
		}
	}
	c0 := cpuTime()
	for range n {
		spin()
	}
	alone := cpuTime() - c0
	c0 = cpuTime()
	for i := range n {
		spin()
		ch <- i
	}
	close(ch)
	<-done
	return (cpuTime() - c0 - alone) / time.Duration(n)
}

// tcpExchange is the CPU of one request and answer of size bytes each over
// a loopback TCP connection, both ends in this process.
func tcpExchange(n, size int) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, size)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, size)
	c0 := cpuTime()
	for range n {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return 0, err
		}
	}
	return (cpuTime() - c0) / time.Duration(n), nil
}
