package apply

import (
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/load"
)

// The profile apply sends is the one the plan wrote into Change.After.
func TestProfileFromPlanPayload(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       contract.Change
		want    load.UserInput
		wantErr bool
	}{
		{"create as the plan writes it",
			contract.Change{ChangeID: "c1", Op: contract.OpCreateUser, Email: "ada@corp.example",
				After: contract.Profile{Name: "Ada", Surname: "Lovelace", DisplayName: "Ada Lovelace"}.JSON()},
			load.UserInput{Email: "ada@corp.example", Name: "Ada", Surname: "Lovelace", DisplayName: "Ada Lovelace"}, false},
		{"email from the payload when the row has none",
			contract.Change{ChangeID: "c2", Op: contract.OpUpdateUser, After: contract.Profile{Name: "X", Email: "x@corp.example"}.JSON()},
			load.UserInput{Email: "x@corp.example", Name: "X"}, false},
		{"the row's email wins",
			contract.Change{ChangeID: "c3", Op: contract.OpUpdateUser, Email: " row@corp.example ", After: contract.Profile{Email: "payload@corp.example"}.JSON()},
			load.UserInput{Email: "row@corp.example"}, false},
		{"no payload", contract.Change{ChangeID: "c4", Op: contract.OpCreateUser, Email: "e@corp.example"}, load.UserInput{Email: "e@corp.example"}, false},
		{"not JSON", contract.Change{ChangeID: "c5", Op: contract.OpCreateUser, After: "{"}, load.UserInput{}, true},
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
