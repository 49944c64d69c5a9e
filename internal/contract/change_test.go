package contract

import "testing"

func TestProfileRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Profile
		want string // the bytes the plan has always written (the change id covers them)
	}{
		{"full", Profile{Name: "Ada", Surname: "Lovelace", DisplayName: "Ada Lovelace"}, `{"name":"Ada","surname":"Lovelace","display_name":"Ada Lovelace"}`},
		{"empty names", Profile{}, `{"name":"","surname":"","display_name":""}`},
		{"quoted", Profile{Name: `O"Neil`, Surname: "Ó Briain", DisplayName: "<b>"}, `{"name":"O\"Neil","surname":"Ó Briain","display_name":"\u003cb\u003e"}`},
		{"with email", Profile{Name: "X", Email: "x@corp.example"}, `{"name":"X","surname":"","display_name":"","email":"x@corp.example"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := tc.in.JSON()
			if js != tc.want {
				t.Errorf("JSON() = %s, want %s", js, tc.want)
			}
			got, err := ParseProfile(js)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.in {
				t.Errorf("ParseProfile(%s) = %+v, want %+v", js, got, tc.in)
			}
		})
	}
}

func TestParseProfile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		after   string
		want    Profile
		wantErr bool
	}{
		{"empty", "", Profile{}, false},
		{"blank", "  ", Profile{}, false},
		{"partial", `{"name":"X"}`, Profile{Name: "X"}, false},
		{"unknown keys ignored", `{"name":"X","suspended":true}`, Profile{Name: "X"}, false},
		{"not an object", `[1]`, Profile{}, true},
		{"not JSON", `{`, Profile{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProfile(tc.after)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseProfile(%q) error %v, want error %v", tc.after, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ParseProfile(%q) = %+v, want %+v", tc.after, got, tc.want)
			}
		})
	}
}
