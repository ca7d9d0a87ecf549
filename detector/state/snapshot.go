package state

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// snapshotVersion changes when the snapshot format does incompatibly.
const snapshotVersion = 1

type snapshot struct {
	Version   int        `json:"version"`
	Processes []*Process `json:"processes"`
}

// Snapshot writes the table (processes and their fds) as JSON, so that a
// recording can start from the state the detector had (see FromSnapshot).
func (t *Table) Snapshot(w io.Writer) error {
	s := snapshot{Version: snapshotVersion, Processes: make([]*Process, 0, len(t.procs))}
	for _, p := range t.procs {
		s.Processes = append(s.Processes, p)
	}
	sort.Slice(s.Processes, func(i, j int) bool { return s.Processes[i].PID < s.Processes[j].PID })
	return json.NewEncoder(w).Encode(&s)
}

// FromSnapshot fills the table from what Snapshot wrote, instead of Seed.
// Processes the events then name but the snapshot lacks are still read from
// /proc (Options.ProcRoot) when they exist there.
func (t *Table) FromSnapshot(r io.Reader) error {
	var s snapshot
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return fmt.Errorf("process snapshot: %w", err)
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("process snapshot: version %d, want %d", s.Version, snapshotVersion)
	}
	for i, p := range s.Processes {
		if p == nil {
			return fmt.Errorf("process snapshot: entry %d is null", i)
		}
		p.derive()
		for num, f := range p.FDs {
			if f == nil {
				return fmt.Errorf("process snapshot: pid %d fd %d is null", p.PID, num)
			}
			f.Num = num
		}
		t.Put(p)
	}
	return nil
}
