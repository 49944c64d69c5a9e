package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// User is a sandbox user. Verified and Admin are sandbox state that the
// REST surface exposes only through visibility (list=…) and permissions.
type User struct {
	ID          string         `json:"id"`
	Email       string         `json:"email"`
	Name        string         `json:"name"`
	Surname     string         `json:"surname"`
	DisplayName string         `json:"display_name"`
	Verified    bool           `json:"verified"`
	Suspended   bool           `json:"suspended"`
	Admin       bool           `json:"admin,omitempty"`
	Properties  map[string]any `json:"properties,omitempty"`
	Created     string         `json:"created,omitempty"`
	Updated     string         `json:"updated,omitempty"`
	// Groups lists the ids of the user's groups (filled in dumps; ignored on seed).
	Groups []string `json:"groups,omitempty"`
}

// Group is a sandbox group; Members are user ids.
type Group struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Members     []string `json:"members"`
	Created     string   `json:"created,omitempty"`
}

// Share gives a user or a group a role on a spot.
type Share struct {
	Principal string `json:"principal"` // user | group
	ID        string `json:"id"`
	Role      string `json:"role"` // owner | co-owner | editor | viewer
}

// Spot is a content collection.
type Spot struct {
	ID          string  `json:"id"`
	Title       string  `json:"title"`
	Description string  `json:"description"`
	Visibility  string  `json:"visibility"` // private | public
	IsOfficial  bool    `json:"is_official"`
	Shares      []Share `json:"shares"`
	Created     string  `json:"created,omitempty"`
}

// Item is a piece of content in a spot. Content is served by
// /items/{id}/content (CSV for report items).
type Item struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Spot        string   `json:"spot"`
	Lists       []string `json:"lists"`
	ContentType string   `json:"content_type"`
	MimeType    string   `json:"mime_type"`
	ContentName string   `json:"content_name"`
	CanDownload bool     `json:"can_download"`
	Internal    bool     `json:"internal"`
	Author      string   `json:"author"`
	DateAdded   string   `json:"date_added"`
	DateUpdated string   `json:"date_updated"`
	Content     string   `json:"content,omitempty"`
}

// APIKey is a REST credential bound to a user (by email), as in Highspot.
type APIKey struct {
	Key           string `json:"key"`
	Secret        string `json:"secret"`
	User          string `json:"user"`
	Impersonation bool   `json:"impersonation"`
}

// StateDump is the whole state (GET /_admin/state, Server.State, the
// persistence file). Counters and Faults are filled in dumps only.
type StateDump struct {
	Users      []User           `json:"users"`
	Groups     []Group          `json:"groups"`
	Spots      []Spot           `json:"spots"`
	Items      []Item           `json:"items"`
	Keys       []APIKey         `json:"keys"`
	SCIMTokens []string         `json:"scim_tokens"`
	Counters   map[string]int64 `json:"counters,omitempty"`
	Faults     *Faults          `json:"faults,omitempty"`
}

// UserByEmail finds a user in a dump (case-insensitive), for assertions.
func (d StateDump) UserByEmail(email string) (User, bool) {
	for _, u := range d.Users {
		if strings.EqualFold(u.Email, email) {
			return u, true
		}
	}
	return User{}, false
}

// GroupByName finds a group in a dump, for assertions.
func (d StateDump) GroupByName(name string) (Group, bool) {
	for _, g := range d.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// Seed is fixture data. Unlike a dump it refers to people by email and to
// groups and spots by name, and ids are optional (generated when empty).
type Seed struct {
	Keys       []APIKey    `json:"keys"`
	SCIMTokens []string    `json:"scim_tokens"`
	Users      []User      `json:"users"`
	Groups     []SeedGroup `json:"groups"`
	Spots      []SeedSpot  `json:"spots"`
	Items      []SeedItem  `json:"items"`
}

// SeedGroup is a group with members by email.
type SeedGroup struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Members     []string `json:"members"`
}

// SeedSpot is a spot with shares by user email or group name.
type SeedSpot struct {
	ID          string      `json:"id"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Visibility  string      `json:"visibility"`
	IsOfficial  bool        `json:"is_official"`
	Shares      []SeedShare `json:"shares"`
}

// SeedShare names its principal: User (email) or Group (name).
type SeedShare struct {
	User  string `json:"user,omitempty"`
	Group string `json:"group,omitempty"`
	Role  string `json:"role"`
}

// SeedItem is an item whose spot is given by title.
type SeedItem struct {
	Item
	SpotTitle string `json:"spot_title"`
}

// state is the mutable model; every access holds Server.mu.
//
// Users and groups are kept in insertion order (users, groups) with maps
// for O(1) lookup by id and by lower-cased email, a reverse membership
// index (user id → group ids) and insertion sequence numbers so that lookups
// that find several users answer them in list order without a scan. Pages
// of the verified/unverified views are cut from a selection cached until the
// next user change, so paging through N users costs O(N), not O(N²).
//
// When journaling is on, every change also records a journal op (see
// journal.go); the server writes the ops of a request as one journal line.
type state struct {
	users       []*User
	userByID    map[string]*User
	userByEmail map[string]*User
	userSeq     map[string]uint64 // user id → insertion sequence
	groups      []*Group
	groupByID   map[string]*Group
	groupSeq    map[string]uint64
	members     map[string]map[string]bool // group id → user ids
	userGroups  map[string]map[string]bool // user id → group ids
	spots       []*Spot
	spotByID    map[string]*Spot
	items       []*Item
	itemByID    map[string]*Item
	keys        []APIKey
	scimTokens  []string
	tokens      map[string]string // oauth access token → key
	requests    map[string]*asyncRequest

	seq         uint64
	userVersion uint64             // bumped by every user change
	viewVersion uint64             // userVersion the views were cut at
	views       map[string][]*User // list=verified|unverified → selection

	journaling bool
	ops        []journalOp
	opUsers    map[string]bool // users already in ops
	opGroups   map[string]bool
	opSpots    bool
}

type asyncRequest struct {
	id      string
	polls   int
	status  int
	result  []byte
	created string
}

func newState() *state {
	return &state{userByID: map[string]*User{}, userByEmail: map[string]*User{}, userSeq: map[string]uint64{},
		groupByID: map[string]*Group{}, groupSeq: map[string]uint64{},
		members: map[string]map[string]bool{}, userGroups: map[string]map[string]bool{},
		spotByID: map[string]*Spot{}, itemByID: map[string]*Item{},
		tokens: map[string]string{}, requests: map[string]*asyncRequest{}}
}

// touchUser records that user id changed (its current value is journaled).
func (st *state) touchUser(id string) {
	st.userVersion++
	if !st.journaling || st.opUsers[id] {
		return
	}
	if st.opUsers == nil {
		st.opUsers = map[string]bool{}
	}
	st.opUsers[id] = true
	st.ops = append(st.ops, journalOp{kind: opUser, id: id})
}

// touchGroup records that group id's name or description changed.
func (st *state) touchGroup(id string) {
	if !st.journaling || st.opGroups[id] {
		return
	}
	if st.opGroups == nil {
		st.opGroups = map[string]bool{}
	}
	st.opGroups[id] = true
	st.ops = append(st.ops, journalOp{kind: opGroup, id: id})
}

// touchSpots records that a spot or a share changed (spots are few: the
// journal carries them whole).
func (st *state) touchSpots() {
	if !st.journaling || st.opSpots {
		return
	}
	st.opSpots = true
	st.ops = append(st.ops, journalOp{kind: opSpots})
}

func (st *state) addUser(u *User) {
	st.seq++
	st.users = append(st.users, u)
	st.userByID[u.ID] = u
	st.userSeq[u.ID] = st.seq
	st.userByEmail[strings.ToLower(u.Email)] = u
	st.touchUser(u.ID)
}

// setEmail changes u's email and its index entry.
func (st *state) setEmail(u *User, email string) {
	if st.userByEmail[strings.ToLower(u.Email)] == u {
		delete(st.userByEmail, strings.ToLower(u.Email))
	}
	u.Email = email
	st.userByEmail[strings.ToLower(email)] = u
	st.touchUser(u.ID)
}

// removeUser deletes a user, its memberships and its shares. Finding its
// place in the list is O(users); hard deletes are rare (the default delete
// suspends).
func (st *state) removeUser(id string) {
	u := st.userByID[id]
	if u == nil {
		return
	}
	delete(st.userByID, id)
	delete(st.userSeq, id)
	if st.userByEmail[strings.ToLower(u.Email)] == u {
		delete(st.userByEmail, strings.ToLower(u.Email))
	}
	for i, x := range st.users {
		if x == u {
			st.users = append(st.users[:i], st.users[i+1:]...)
			break
		}
	}
	for gid := range st.userGroups[id] {
		delete(st.members[gid], id)
	}
	delete(st.userGroups, id)
	st.userVersion++
	if st.journaling {
		delete(st.opUsers, id)
		st.ops = append(st.ops, journalOp{kind: opDelUser, id: id})
	}
	st.dropShares("user", id)
}

// setMember adds (in) or removes user uid from group gid.
func (st *state) setMember(gid, uid string, in bool) {
	m := st.members[gid]
	if m == nil || m[uid] == in {
		return
	}
	if in {
		m[uid] = true
		ug := st.userGroups[uid]
		if ug == nil {
			ug = map[string]bool{}
			st.userGroups[uid] = ug
		}
		ug[gid] = true
	} else {
		delete(m, uid)
		delete(st.userGroups[uid], gid)
	}
	if st.journaling {
		st.ops = append(st.ops, journalOp{kind: opMember, group: gid, id: uid, in: in})
	}
}

// setMembers makes want the members of gid (only the differences change).
func (st *state) setMembers(gid string, want map[string]bool) {
	for uid := range st.members[gid] {
		if !want[uid] {
			st.setMember(gid, uid, false)
		}
	}
	for uid := range want {
		st.setMember(gid, uid, true)
	}
}

// removeFromAllGroups drops every membership of uid.
func (st *state) removeFromAllGroups(uid string) {
	for gid := range st.userGroups[uid] {
		st.setMember(gid, uid, false)
	}
}

func (st *state) dropShares(principal, id string) {
	for _, sp := range st.spots {
		out := sp.Shares[:0]
		for _, sh := range sp.Shares {
			if !(sh.Principal == principal && sh.ID == id) {
				out = append(out, sh)
			}
		}
		if len(out) != len(sp.Shares) {
			st.touchSpots()
		}
		sp.Shares = out
	}
}

func (st *state) addGroup(g *Group) {
	st.seq++
	st.groups = append(st.groups, g)
	st.groupByID[g.ID] = g
	st.groupSeq[g.ID] = st.seq
	if st.members[g.ID] == nil {
		st.members[g.ID] = map[string]bool{}
	}
	st.touchGroup(g.ID)
}

func (st *state) removeGroup(id string) {
	for uid := range st.members[id] {
		delete(st.userGroups[uid], id)
	}
	delete(st.groupByID, id)
	delete(st.groupSeq, id)
	delete(st.members, id)
	for i, g := range st.groups {
		if g.ID == id {
			st.groups = append(st.groups[:i], st.groups[i+1:]...)
			break
		}
	}
	if st.journaling {
		delete(st.opGroups, id)
		st.ops = append(st.ops, journalOp{kind: opDelGroup, id: id})
	}
	st.dropShares("group", id)
}

func (st *state) groupByName(name string) *Group {
	for _, g := range st.groups {
		if g.Name == name {
			return g
		}
	}
	for _, g := range st.groups {
		if strings.EqualFold(g.Name, name) {
			return g
		}
	}
	return nil
}

// groupsOf lists the ids of u's groups in group order.
func (st *state) groupsOf(uid string) []string {
	out := make([]string, 0, len(st.userGroups[uid]))
	for gid := range st.userGroups[uid] {
		out = append(out, gid)
	}
	sort.Slice(out, func(i, j int) bool { return st.groupSeq[out[i]] < st.groupSeq[out[j]] })
	return out
}

// idInUse reports whether a user, group, spot or item has id.
func (st *state) idInUse(id string) bool {
	return st.userByID[id] != nil || st.groupByID[id] != nil || st.spotByID[id] != nil || st.itemByID[id] != nil
}

// sortUsers puts users found by lookups in list order.
func (st *state) sortUsers(us []*User) {
	sort.Slice(us, func(i, j int) bool { return st.userSeq[us[i].ID] < st.userSeq[us[j].ID] })
}

// view is the users of a REST list ("", verified, unverified, all) in list
// order, cached until the next user change.
func (st *state) view(list string) []*User {
	if list == "all" {
		return st.users
	}
	if list == "" {
		list = "verified"
	}
	if st.views == nil || st.viewVersion != st.userVersion {
		st.views, st.viewVersion = map[string][]*User{}, st.userVersion
	}
	if v, ok := st.views[list]; ok {
		return v
	}
	sel := []*User{}
	for _, u := range st.users {
		if u.Verified == (list == "verified") {
			sel = append(sel, u)
		}
	}
	st.views[list] = sel
	return sel
}

func (st *state) memberList(gid string) []string {
	out := make([]string, 0, len(st.members[gid]))
	for uid := range st.members[gid] {
		out = append(out, uid)
	}
	sort.Strings(out)
	return out
}

func (st *state) addSpot(sp *Spot) {
	st.spots = append(st.spots, sp)
	st.spotByID[sp.ID] = sp
	st.touchSpots()
}

func (st *state) addItem(it *Item) {
	st.items = append(st.items, it)
	st.itemByID[it.ID] = it
}

// dump copies the state (never shares its maps or slices).
func (st *state) dump() StateDump {
	d := StateDump{Users: []User{}, Groups: []Group{}, Spots: []Spot{}, Items: []Item{},
		Keys: append([]APIKey{}, st.keys...), SCIMTokens: append([]string{}, st.scimTokens...)}
	for _, u := range st.users {
		c := *u
		c.Properties = copyProps(u.Properties)
		c.Groups = st.groupsOf(u.ID)
		d.Users = append(d.Users, c)
	}
	for _, g := range st.groups {
		c := *g
		c.Members = st.memberList(g.ID)
		d.Groups = append(d.Groups, c)
	}
	for _, sp := range st.spots {
		c := *sp
		c.Shares = append([]Share{}, sp.Shares...)
		d.Spots = append(d.Spots, c)
	}
	for _, it := range st.items {
		c := *it
		c.Lists = append([]string{}, it.Lists...)
		d.Items = append(d.Items, c)
	}
	return d
}

// fromDump rebuilds the state from a dump (the persistence file).
func fromDump(d StateDump) *state {
	st := newState()
	st.keys = append(st.keys, d.Keys...)
	st.scimTokens = append(st.scimTokens, d.SCIMTokens...)
	for _, u := range d.Users {
		c := u
		c.Groups = nil
		c.Properties = copyProps(u.Properties)
		st.addUser(&c)
	}
	for _, g := range d.Groups {
		c := g
		members := c.Members
		c.Members = nil
		st.addGroup(&c)
		for _, uid := range members {
			if st.userByID[uid] != nil {
				st.setMember(c.ID, uid, true)
			}
		}
	}
	for _, sp := range d.Spots {
		c := sp
		c.Shares = append([]Share{}, sp.Shares...)
		st.addSpot(&c)
	}
	for _, it := range d.Items {
		c := it
		st.addItem(&c)
	}
	return st
}

func copyProps(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// saveFile writes the dump atomically: a temporary file in the same
// directory, synced, then renamed over the target.
func saveFile(path string, d StateDump) error {
	d.Counters, d.Faults = nil, nil
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("encode sandbox state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".sandbox-state-*")
	if err != nil {
		return fmt.Errorf("save sandbox state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("save sandbox state %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save sandbox state %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save sandbox state %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save sandbox state %s: %w", path, err)
	}
	return nil
}

// loadFile reads a persisted dump; ok is false when the file does not exist.
func loadFile(path string) (StateDump, bool, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return StateDump{}, false, nil
	}
	if err != nil {
		return StateDump{}, false, fmt.Errorf("read sandbox state %s: %w", path, err)
	}
	var d StateDump
	if err := json.Unmarshal(b, &d); err != nil {
		return StateDump{}, false, fmt.Errorf("read sandbox state %s: %w (delete the file to start from the seed)", path, err)
	}
	return d, true, nil
}
