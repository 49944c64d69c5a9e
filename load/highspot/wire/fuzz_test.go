package wire

import (
	"bytes"
	"encoding/json"
	"testing"
)

// roundTrip decodes data into a fresh T; when that succeeds, encoding the
// value and decoding it again must give a value with the same encoding
// (what the client decoded is what it would send back).
func roundTrip[T any](t *testing.T, data []byte) {
	var v T
	if json.Unmarshal(data, &v) != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%T: decoded %q but cannot encode it: %v", v, data, err)
	}
	var again T
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatalf("%T: own encoding %s does not decode: %v", v, b, err)
	}
	// compared as encoded: an empty list and an absent one are the same
	// message (omitempty), which reflect.DeepEqual would tell apart
	b2, err := json.Marshal(again)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("%T: %q decoded to %+v, re-encoded %s decodes to %+v (%s)", v, data, v, b, again, b2)
	}
}

// FuzzDecode decodes arbitrary JSON as every Highspot response shape.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"counts_total":1,"collection":[{"id":"u1","email":"a@x.example","groups":["g"],"verified":true}]}`,
		`{"collection":[{"id":"1","email":"a@x.example","status":"ok"}]}`, `{"collection":[{"id":"g","title":"T","member_count":3}]}`,
		`{"Resources":[{"id":"u","userName":"a@x.example","active":true,"name":{"givenName":"A"},"emails":[{"value":"a@x.example","primary":true}]}],"totalResults":1}`,
		`{"Operations":[{"status":"201","response":{"id":"u"}},{"status":{"code":"409"}},{"status":429.5}]}`,
		`{"status":"400","detail":"x","scimType":"invalidFilter"}`, `{"bulk":{"supported":true,"maxOperations":10}}`,
		`{"status":1e300}`, `{"status":"-0"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		roundTrip[Collection[User]](t, data)
		roundTrip[Collection[Group]](t, data)
		roundTrip[Collection[UpsertResult]](t, data)
		roundTrip[AsyncRequest](t, data)
		roundTrip[Token](t, data)
		roundTrip[SCIMList[SCIMUser]](t, data)
		roundTrip[SCIMList[SCIMGroup]](t, data)
		roundTrip[SCIMServiceProviderConfig](t, data)
		roundTrip[SCIMBulkResponse](t, data)
		roundTrip[SCIMError](t, data)
	})
}
