package apply

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/load"
)

// WireRequest is one HTTP request a dry run shows.
type WireRequest struct {
	Method string
	Path   string
	Body   any // marshalled as JSON; nil = no body
}

// RequestDescriber is optionally implemented by a Target to tell a dry run
// the exact requests one operation would send (its configured endpoints).
// op is a contract.Op* name; users is set for upserts, g and u for the rest.
// Without it the dry run shows Highspot REST's default endpoints.
type RequestDescriber interface {
	DescribeRequests(op string, users []load.UserInput, g load.Group, u load.User) []WireRequest
}

// dryRun prints what would be sent and makes no call at all: ids that would
// be looked up show as {user:email} and {group:name} placeholders.
func (a *applier) dryRun(phases [3][]contract.Change) error {
	w := a.opts.DryRunOut
	desc, _ := a.t.(RequestDescriber)
	size := max(a.t.MaxBatch(), 1)
	if a.opts.BatchSize > 0 && a.opts.BatchSize < size {
		size = a.opts.BatchSize
	}
	var err error
	printf := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	show := func(reqs []WireRequest) {
		for _, r := range reqs {
			printf("%s %s\n", r.Method, r.Path)
			if r.Body != nil {
				b, _ := json.MarshalIndent(r.Body, "", "  ")
				printf("%s\n", b)
			}
		}
	}
	printf("dry run: %d change(s); no request is sent\n", a.sum.Total)
	names := [3]string{"groups, creates and updates", "memberships", "suspensions"}
	for p, changes := range phases {
		if len(changes) == 0 {
			continue
		}
		printf("\n# phase %d: %s (%d)\n", p+1, names[p], len(changes))
		var batch []load.UserInput
		var batchIDs []string
		flush := func() {
			if len(batch) == 0 {
				return
			}
			printf("# changes %s (creates are looked up by email first and sent as updates when the user exists)\n", strings.Join(batchIDs, ", "))
			if desc != nil {
				show(desc.DescribeRequests(contract.OpCreateUser, batch, load.Group{}, load.User{}))
			} else {
				show([]WireRequest{{Method: "POST", Path: "/users", Body: restUpsertBody(batch)}})
			}
			batch, batchIDs = nil, nil
		}
		for _, c := range changes {
			switch c.Op {
			case contract.OpCreateUser, contract.OpUpdateUser:
				in, perr := profile(c)
				if perr != nil {
					printf("# change %s: would fail: %v\n", c.ChangeID, perr)
					continue
				}
				batch = append(batch, in)
				batchIDs = append(batchIDs, c.ChangeID)
				if len(batch) == size {
					flush()
				}
				continue
			}
			flush()
			uid := c.HighspotID
			if uid == "" {
				uid = "{user:" + c.Email + "}"
			}
			gid := c.GroupID
			if gid == "" {
				gid = "{group:" + c.Group + "}"
			}
			printf("# change %s: %s %s %s\n", c.ChangeID, c.Op, c.Email, c.Group)
			if desc != nil {
				show(desc.DescribeRequests(c.Op, nil, load.Group{ID: gid, Name: c.Group}, load.User{ID: uid, Email: c.Email}))
				continue
			}
			switch c.Op {
			case contract.OpAddMember:
				show([]WireRequest{{Method: "POST", Path: "/groups/" + gid + "/users", Body: map[string][]string{"users": {c.Email}}}})
			case contract.OpRemoveMember:
				show([]WireRequest{{Method: "DELETE", Path: "/groups/" + gid + "/users/" + uid}})
			case contract.OpSuspendUser:
				show([]WireRequest{{Method: "DELETE", Path: "/users/" + uid}})
			case contract.OpReactivateUser:
				show([]WireRequest{{Method: "POST", Path: "/users", Body: []map[string]any{{"email": c.Email, "properties": map[string]any{"suspended": false}}}}})
			case contract.OpCreateGroup:
				printf("# the group is looked up by name first and created only when absent\n")
				show([]WireRequest{{Method: "POST", Path: "/groups", Body: map[string]string{"name": c.Group, "description": ""}}})
			default:
				printf("# unknown op %q: would fail\n", c.Op)
			}
		}
		flush()
	}
	if err != nil {
		return fmt.Errorf("apply: dry run: write: %w", err)
	}
	return nil
}

func restUpsertBody(users []load.UserInput) []map[string]any {
	out := make([]map[string]any, len(users))
	for i, u := range users {
		props := map[string]string{}
		for k, v := range u.Properties {
			props[k] = v
		}
		if u.Name != "" {
			props["name"] = u.Name
		}
		if u.Surname != "" {
			props["surname"] = u.Surname
		}
		if u.DisplayName != "" {
			props["display_name"] = u.DisplayName
		}
		out[i] = map[string]any{"email": u.Email, "properties": props}
	}
	return out
}
