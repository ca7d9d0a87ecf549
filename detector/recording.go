package detector

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nightjar-sec/nightjar/bpf"
)

// A recording (--record FILE, replayed with -e FILE) is the kernel's raw
// events with the process state they started from, so that a replay goes
// through the same processor and rules as the live detector:
//
//	"NIGHTJAR-RECORDING 1\n"      magic line with the format version
//	gob(RecordingHeader)          when, where, what was attached, and the
//	                              process table snapshot (state.Snapshot JSON)
//	gob(bpf.Event) ...            every event in the order it was read,
//	                              until the end of the file
//
// The gob stream carries its own type descriptions, so a recording made by
// one build replays in a later one as long as bpf.Event's fields keep their
// names (fields added later read as zero).
const recordingMagic = "NIGHTJAR-RECORDING 1\n"

// RecordingHeader opens a recording.
type RecordingHeader struct {
	Created  time.Time
	Hostname string
	Version  string   // nightjar's version
	Syscalls []string // what was attached
	Snapshot []byte   // state.Table.Snapshot at the start
}

// Recorder writes a recording.
type Recorder struct {
	f   *os.File
	w   *bufio.Writer
	enc *gob.Encoder
	n   uint64
}

// CreateRecording creates path and writes the header.
func CreateRecording(path string, h *RecordingHeader) (*Recorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--record: %w", err)
	}
	r := &Recorder{f: f, w: bufio.NewWriterSize(f, 1<<20)}
	r.enc = gob.NewEncoder(r.w)
	r.w.WriteString(recordingMagic)
	if err := r.enc.Encode(h); err != nil {
		f.Close()
		return nil, fmt.Errorf("--record %s: %w", path, err)
	}
	return r, nil
}

// Write appends one event.
func (r *Recorder) Write(ev *bpf.Event) error {
	r.n++
	return r.enc.Encode(ev)
}

// Count is the number of events written.
func (r *Recorder) Count() uint64 { return r.n }

// Close flushes and closes the file.
func (r *Recorder) Close() error {
	err := r.w.Flush()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Replay reads a recording.
type Replay struct {
	Header RecordingHeader
	f      *os.File
	dec    *gob.Decoder
}

// OpenRecording opens a recording and reads its header.
func OpenRecording(path string) (*Replay, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-e: %w", err)
	}
	br := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(recordingMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != recordingMagic {
		f.Close()
		return nil, fmt.Errorf("-e %s: not a nightjar recording (made with --record)", path)
	}
	r := &Replay{f: f, dec: gob.NewDecoder(br)}
	if err := r.dec.Decode(&r.Header); err != nil {
		f.Close()
		return nil, fmt.Errorf("-e %s: header: %w", path, err)
	}
	return r, nil
}

// Read decodes the next event into ev; io.EOF at the end. A recording cut
// short (the recorder was killed) ends with io.ErrUnexpectedEOF.
func (r *Replay) Read(ev *bpf.Event) error {
	// gob leaves fields that are zero in the stream untouched: start clean.
	*ev = bpf.Event{}
	err := r.dec.Decode(ev)
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return err
}

// Close closes the file.
func (r *Replay) Close() error { return r.f.Close() }
