package contract

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Profile is the payload of a create_user or update_user change: its After
// (what apply sends) and, for an update, its Before. The plan writes it with
// JSON and apply reads it with ParseProfile, so both use these keys.
//
// Every plan published so far wrote exactly name, surname and display_name
// (snake_case), so ParseProfile reads only these spellings. Email is not
// written by the plan (the change row carries it); it is read when present
// for a change whose Email column is empty. The encoding is part of the plan
// hash (the change id covers After): do not reorder or rename the fields.
type Profile struct {
	Name        string `json:"name"`
	Surname     string `json:"surname"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email,omitempty"`
}

// JSON is the payload as stored in Change.After / Change.Before.
func (p Profile) JSON() string {
	b, err := json.Marshal(p)
	if err != nil { // a struct of strings always encodes
		panic(fmt.Sprintf("encode profile: %v", err))
	}
	return string(b)
}

// ParseProfile reads a Change.After written by Profile.JSON. An empty
// payload is the zero Profile.
func ParseProfile(after string) (Profile, error) {
	var p Profile
	if strings.TrimSpace(after) == "" {
		return p, nil
	}
	if err := json.Unmarshal([]byte(after), &p); err != nil {
		return Profile{}, fmt.Errorf("after is not a profile JSON object: %w", err)
	}
	return p, nil
}
