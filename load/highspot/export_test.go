package highspot

import (
	"bytes"
	"encoding/json"

	"github.com/otds-highspot/otds-highspot/load/highspot/wire"
)

// UserPage is a REST page of users as ListUsers decodes it.
type UserPage struct {
	CountsTotal int
	Raws        []json.RawMessage
	Items       []wire.User
	IDs         []string
}

// DecodeUserPageFast is the one-pass decoding (decodeUserPage); ok is false
// for a body it leaves to the general one.
func DecodeUserPageFast(body []byte) (UserPage, bool) {
	pg, ok := decodeUserPage(body)
	return UserPage{CountsTotal: pg.countsTotal, Raws: pg.raws, Items: pg.items, IDs: pg.ids}, ok
}

// DecodeUserPageGeneral is the general decoding fetchPage falls back on: the
// envelope with raw items as doJSON decodes it, then each item
// (decodeItems).
func DecodeUserPageGeneral(body []byte) (UserPage, error) {
	var coll wire.Collection[json.RawMessage]
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &coll); err != nil {
			return UserPage{}, err
		}
	}
	items, ids, err := decodeItems(coll.Collection, "user", func(u *wire.User) string { return u.ID })
	if err != nil {
		return UserPage{}, err
	}
	return UserPage{CountsTotal: coll.CountsTotal, Raws: coll.Collection, Items: items, IDs: ids}, nil
}
