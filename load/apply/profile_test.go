package apply

import (
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/records"
	"github.com/otds-highspot/otds-highspot/load"
)

// The profile apply sends is the one the plan wrote into Change.After.
func TestProfileFromPlanPayload(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       records.Change
		want    load.UserInput
		wantErr bool
	}{
		{"create as the plan writes it",
			records.Change{ChangeID: "c1", Op: records.OpCreateUser, Email: "ada@corp.example",
				After: contract.Profile{Name: "Ada", Surname: "Lovelace", DisplayName: "Ada Lovelace"}.JSON()},
			load.UserInput{Email: "ada@corp.example", Name: "Ada", Surname: "Lovelace", DisplayName: "Ada Lovelace"}, false},
		{"email from the payload when the row has none",
			records.Change{ChangeID: "c2", Op: records.OpUpdateUser, After: contract.Profile{Name: "X", Email: "x@corp.example"}.JSON()},
			load.UserInput{Email: "x@corp.example", Name: "X"}, false},
		{"the row's email wins",
			records.Change{ChangeID: "c3", Op: records.OpUpdateUser, Email: " row@corp.example ", After: contract.Profile{Email: "payload@corp.example"}.JSON()},
			load.UserInput{Email: "row@corp.example"}, false},
		{"no payload", records.Change{ChangeID: "c4", Op: records.OpCreateUser, Email: "e@corp.example"}, load.UserInput{Email: "e@corp.example"}, false},
		{"not JSON", records.Change{ChangeID: "c5", Op: records.OpCreateUser, After: "{"}, load.UserInput{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := profile(tc.c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("profile error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if got.Email != tc.want.Email || got.Name != tc.want.Name || got.Surname != tc.want.Surname || got.DisplayName != tc.want.DisplayName || len(got.Properties) != 0 {
				t.Errorf("profile = %+v, want %+v", got, tc.want)
			}
		})
	}
}
