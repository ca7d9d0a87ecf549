package output

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/nightjar-sec/nightjar/alert"
)

// sink is one local output. Writes happen on the dispatcher's local
// goroutine, one at a time.
type sink interface {
	name() string
	write(a *alert.Alert, line []byte) error
	// flush pushes buffered alerts out; called after every alert, or when
	// the queue goes idle with buffered_outputs.
	flush() error
	close() error
}

// stdoutSink writes one line per alert.
type stdoutSink struct {
	w *bufio.Writer
}

func newStdout(w io.Writer) *stdoutSink { return &stdoutSink{w: bufio.NewWriterSize(w, 64<<10)} }

func (s *stdoutSink) name() string { return "stdout" }
func (s *stdoutSink) write(_ *alert.Alert, line []byte) error {
	s.w.Write(line)
	return s.w.WriteByte('\n')
}
func (s *stdoutSink) flush() error { return s.w.Flush() }
func (s *stdoutSink) close() error { return s.w.Flush() }

// fileSink appends one line per alert to a file: kept open (keep_alive) or
// opened and closed per alert, so that log rotation by rename just works.
type fileSink struct {
	path      string
	keepAlive bool
	f         *os.File
	w         *bufio.Writer
}

func newFile(path string, keepAlive bool) (*fileSink, error) {
	s := &fileSink{path: path, keepAlive: keepAlive}
	// Open once now so that a bad path stops start-up instead of failing
	// at the first alert.
	if err := s.open(); err != nil {
		return nil, err
	}
	if !keepAlive {
		s.f.Close()
		s.f = nil
	}
	return s, nil
}

func (s *fileSink) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("file_output.filename: %w", err)
	}
	s.f = f
	if s.w == nil {
		s.w = bufio.NewWriterSize(f, 64<<10)
	} else {
		s.w.Reset(f)
	}
	return nil
}

func (s *fileSink) name() string { return "file" }
func (s *fileSink) write(_ *alert.Alert, line []byte) error {
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	s.w.Write(line)
	return s.w.WriteByte('\n')
}

func (s *fileSink) flush() error {
	if s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if !s.keepAlive {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
		s.f = nil
	}
	return err
}

func (s *fileSink) close() error {
	if s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	return err
}

// syslogSink sends each alert to syslog, facility user, at the severity
// that matches its priority.
type syslogSink struct {
	w *syslog.Writer
}

// newSyslog dials the local syslog when network and addr are empty, or the
// given address (a test's own socket).
func newSyslog(network, addr string) (*syslogSink, error) {
	w, err := syslog.Dial(network, addr, syslog.LOG_USER|syslog.LOG_INFO, "nightjar")
	if err != nil {
		if network == "" && addr == "" {
			// log/syslog says only "Unix syslog delivery error".
			return nil, localSyslogError(localSyslogPaths)
		}
		return nil, fmt.Errorf("syslog_output: %w", err)
	}
	return &syslogSink{w: w}, nil
}

// localSyslogPaths are the sockets log/syslog tries for the local syslog,
// in its order (datagram, then stream, on each).
var localSyslogPaths = []string{"/dev/log", "/var/run/syslog", "/var/run/log"}

// localSyslogError says why no local syslog could be reached, socket by
// socket, and what to do about it.
func localSyslogError(paths []string) error {
	var tried []string
	for _, p := range paths {
		tried = append(tried, p+" ("+unixDialProblem(p)+")")
	}
	return fmt.Errorf("syslog_output: no local syslog to write to: tried %s. Either turn syslog_output off "+
		"(syslog_output.enabled: false, or -o syslog_output.enabled=false) or make %s available: run a syslog daemon "+
		"(rsyslog, syslog-ng, systemd-journald) or, in a container, mount the host's /dev/log "+
		"(docker run -v /dev/log:/dev/log; Kubernetes: a hostPath volume)", strings.Join(tried, ", "), paths[0])
}

// unixDialProblem connects to a unix socket as log/syslog does and returns
// why it failed, as the system says it ("no such file or directory",
// "connection refused", "permission denied").
func unixDialProblem(path string) string {
	var first error
	for _, network := range []string{"unixgram", "unix"} {
		c, err := net.Dial(network, path)
		if err == nil {
			c.Close()
			return "reachable now"
		}
		var errno syscall.Errno
		if errors.As(err, &errno) {
			err = errno
		}
		if first == nil || errors.Is(first, syscall.EPROTOTYPE) {
			// A stream socket refuses a datagram connection: its own
			// error says more.
			first = err
		}
	}
	return first.Error()
}

func (s *syslogSink) name() string { return "syslog" }
func (s *syslogSink) write(a *alert.Alert, line []byte) error {
	m := string(line)
	switch a.Priority {
	case alert.PriorityEmergency:
		return s.w.Emerg(m)
	case alert.PriorityAlert:
		return s.w.Alert(m)
	case alert.PriorityCritical:
		return s.w.Crit(m)
	case alert.PriorityError:
		return s.w.Err(m)
	case alert.PriorityWarning:
		return s.w.Warning(m)
	case alert.PriorityNotice:
		return s.w.Notice(m)
	case alert.PriorityInformational:
		return s.w.Info(m)
	default:
		return s.w.Debug(m)
	}
}
func (s *syslogSink) flush() error { return nil }
func (s *syslogSink) close() error { return s.w.Close() }
