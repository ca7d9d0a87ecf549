package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real binary, as `make run` starts it: no configuration file, stops
// cleanly on SIGTERM (exit 0), leaving its queue files for the next start.
func TestBinaryStopsOnSIGTERM(t *testing.T) {
	bin := sidekickBinary(t)
	port := freePort(t)
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = dir // the default queue.dir, ./data/queue, lands here
	cmd.Env = []string{"LISTENADDRESS=127.0.0.1", "LISTENPORT=" + strconv.Itoa(port)}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	}()

	url := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/ping")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never served /ping:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Post(url+"/", "application/json", bytes.NewReader([]byte(`{"output":"x","priority":"Notice","rule":"r","time":"2026-11-29T16:31:56Z"}`)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /: %v %v", resp, err)
	}
	resp.Body.Close()

	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
		t.Logf("stopped %s after SIGTERM", time.Since(sent))
	case <-time.After(40 * time.Second):
		t.Fatalf("still running 40 s after SIGTERM:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "nightjar-sidekick stopped") {
		t.Fatalf("log:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "queue")); err != nil {
		t.Fatalf("default queue.dir not used: %v", err)
	}
}
