package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Persistence. With Options.StateFile set, the state lives in two files:
//
//   - StateFile, the snapshot: the whole state as indented JSON (the
//     StateDump format, readable by tests and people), written atomically
//     (temporary file, fsync, rename) at start when a journal was replayed,
//     on Seed/Reset, on Close, and when the journal reaches
//     Options.JournalCompactEvery lines (compaction).
//   - StateFile + ".journal", the journal: one JSON line per API request
//     that changed something, holding the new values of what it changed
//     (whole user records, group names, single membership changes, the
//     spots), appended with one write per request.
//
// fsync policy: journal lines are not fsynced (a write reaches the OS before
// the response is sent, so a killed process loses nothing; a power loss can
// lose the last lines, never corrupt the state); the snapshot is fsynced
// before it replaces the old one, and the journal is emptied only after that.
// Replaying a journal line is idempotent (it sets values), so a crash between
// the snapshot and the truncation replays lines the snapshot already holds,
// harmlessly. A torn last line (the process died mid-write) is ignored with
// a warning; a broken line before the last is an error naming the file.

// DefaultJournalCompactEvery is the journal length (lines) that triggers a
// snapshot when Options.JournalCompactEvery is 0.
const DefaultJournalCompactEvery = 50000

type opKind uint8

const (
	opUser opKind = iota + 1
	opDelUser
	opGroup
	opDelGroup
	opMember
	opSpots
)

// journalOp is a change recorded in memory; values are read when the line is
// written.
type journalOp struct {
	kind  opKind
	id    string
	group string
	in    bool
}

// journalRec is one change on disk.
type journalRec struct {
	Op    string `json:"op"` // user | del_user | group | del_group | member | spots
	User  *User  `json:"user,omitempty"`
	Group *Group `json:"group,omitempty"`
	ID    string `json:"id,omitempty"`
	GID   string `json:"group_id,omitempty"`
	In    bool   `json:"in,omitempty"`
	Spots []Spot `json:"spots,omitempty"`
}

// takeJournal encodes and clears the recorded ops: one line ending in '\n',
// or nil when nothing changed.
func (st *state) takeJournal() ([]byte, error) {
	if len(st.ops) == 0 {
		return nil, nil
	}
	recs := make([]journalRec, 0, len(st.ops))
	for _, op := range st.ops {
		switch op.kind {
		case opUser:
			u := st.userByID[op.id]
			if u == nil {
				continue // created and removed in the same request
			}
			c := *u
			c.Groups = nil
			recs = append(recs, journalRec{Op: "user", User: &c})
		case opDelUser:
			recs = append(recs, journalRec{Op: "del_user", ID: op.id})
		case opGroup:
			g := st.groupByID[op.id]
			if g == nil {
				continue
			}
			c := *g
			c.Members = nil
			recs = append(recs, journalRec{Op: "group", Group: &c})
		case opDelGroup:
			recs = append(recs, journalRec{Op: "del_group", ID: op.id})
		case opMember:
			recs = append(recs, journalRec{Op: "member", GID: op.group, ID: op.id, In: op.in})
		case opSpots:
			sps := make([]Spot, 0, len(st.spots))
			for _, sp := range st.spots {
				c := *sp
				c.Shares = append([]Share{}, sp.Shares...)
				sps = append(sps, c)
			}
			recs = append(recs, journalRec{Op: "spots", Spots: sps})
		}
	}
	st.ops, st.opUsers, st.opGroups, st.opSpots = st.ops[:0], nil, nil, false
	if len(recs) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(recs)
	if err != nil {
		return nil, fmt.Errorf("encode sandbox journal line: %w", err)
	}
	return append(b, '\n'), nil
}

// replay applies one journal line's records.
func (st *state) replay(recs []journalRec) error {
	for _, r := range recs {
		switch r.Op {
		case "user":
			if r.User == nil || r.User.ID == "" {
				return fmt.Errorf("user record without a user")
			}
			c := *r.User
			c.Groups = nil
			if u := st.userByID[c.ID]; u != nil {
				old := u.Email
				*u = c
				if old != c.Email {
					u.Email = old
					st.setEmail(u, c.Email)
				}
				st.touchUser(u.ID)
			} else {
				st.addUser(&c)
			}
		case "del_user":
			st.removeUser(r.ID)
		case "group":
			if r.Group == nil || r.Group.ID == "" {
				return fmt.Errorf("group record without a group")
			}
			c := *r.Group
			c.Members = nil
			if g := st.groupByID[c.ID]; g != nil {
				g.Name, g.Description, g.Created = c.Name, c.Description, c.Created
			} else {
				st.addGroup(&c)
			}
		case "del_group":
			st.removeGroup(r.ID)
		case "member":
			if st.userByID[r.ID] != nil && st.groupByID[r.GID] != nil {
				st.setMember(r.GID, r.ID, r.In)
			}
		case "spots":
			st.spots, st.spotByID = nil, map[string]*Spot{}
			for _, sp := range r.Spots {
				c := sp
				c.Shares = append([]Share{}, sp.Shares...)
				st.addSpot(&c)
			}
		default:
			return fmt.Errorf("unknown op %q", r.Op)
		}
	}
	return nil
}

// journalPath is where the journal of a state file lives.
func journalPath(stateFile string) string { return stateFile + ".journal" }

// replayJournal applies the journal at path to st. It returns the number of
// lines applied and whether the last line was torn (and ignored). A missing
// journal is zero lines.
func replayJournal(path string, st *state) (lines int, torn bool, err error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read sandbox journal %s: %w", path, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	for n := 1; ; n++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return lines, false, fmt.Errorf("read sandbox journal %s: %w", path, rerr)
		}
		complete := rerr == nil
		if len(bytes.TrimSpace(line)) > 0 {
			var recs []journalRec
			if jerr := json.Unmarshal(line, &recs); jerr != nil || !complete {
				if !complete {
					return lines, true, nil // torn tail: the process died mid-write
				}
				if _, perr := br.Peek(1); perr == io.EOF {
					return lines, true, nil // broken last line
				}
				return lines, false, fmt.Errorf("sandbox journal %s line %d is corrupt: %v (move the journal away to start from the snapshot %s, losing the changes since it)", path, n, jerr, strings.TrimSuffix(path, ".journal"))
			}
			if aerr := st.replay(recs); aerr != nil {
				return lines, false, fmt.Errorf("sandbox journal %s line %d: %w (move the journal away to start from the snapshot)", path, n, aerr)
			}
			lines++
		}
		if !complete {
			return lines, false, nil
		}
	}
}

// ReadState reads a persisted sandbox state as a restarted sandbox would see
// it: the snapshot plus the journal (a torn last line ignored). It changes
// neither file. ok is false when there is no snapshot.
func ReadState(stateFile string) (d StateDump, ok bool, err error) {
	d, ok, err = loadFile(stateFile)
	if err != nil || !ok {
		return d, ok, err
	}
	st := fromDump(d)
	if _, _, err := replayJournal(journalPath(stateFile), st); err != nil {
		return StateDump{}, false, err
	}
	return st.dump(), true, nil
}
