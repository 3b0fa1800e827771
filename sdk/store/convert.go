package store

import (
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
)

// Conversions between the store's Go types and the wire. Empty and nil are
// one value on the wire; what arrives is nil for an empty list of ids or
// records, and a non-nil empty slice for empty Data, so that a record's
// payload is never mistaken for an absent one.

func recordToProto(r Record) *pb.Record {
	return &pb.Record{Id: []byte(r.ID), Expires: timeToProto(r.Expires), Data: r.Data}
}

func recordFromProto(r *pb.Record) (Record, error) {
	if r == nil {
		return Record{}, fmt.Errorf("missing record")
	}
	expires, err := timeFromProto(r.GetExpires())
	if err != nil {
		return Record{}, fmt.Errorf("record %q: expires: %w", LogID(string(r.GetId())), err)
	}
	data := r.GetData()
	if data == nil {
		data = []byte{}
	}
	return Record{ID: string(r.GetId()), Expires: expires, Data: data}, nil
}

func recordsToProto(recs []Record) []*pb.Record {
	if len(recs) == 0 {
		return nil
	}
	out := make([]*pb.Record, len(recs))
	for i, r := range recs {
		out[i] = recordToProto(r)
	}
	return out
}

// recordsFromProto converts and checks a batch: every id within the
// contract's bounds, every expiry a valid time.
func recordsFromProto(recs []*pb.Record) ([]Record, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	out := make([]Record, len(recs))
	for i, r := range recs {
		rec, err := recordFromProto(r)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		if err := checkID(rec.ID); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		out[i] = rec
	}
	return out, nil
}

func idsToProto(ids []string) [][]byte {
	if len(ids) == 0 {
		return nil
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = []byte(id)
	}
	return out
}

// idsFromProto converts ids and checks them against the contract's bounds.
func idsFromProto(ids [][]byte) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
		if err := checkID(out[i]); err != nil {
			return nil, fmt.Errorf("id %d: %w", i, err)
		}
	}
	return out, nil
}

// timeToProto sends the zero time as no timestamp, since the zero time
// means "already expired" to a store and is not a meaningful instant.
func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// timeFromProto returns times in UTC: the instant travels, not the
// location, so compare them with Time.Equal.
func timeFromProto(ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, err
	}
	return ts.AsTime(), nil
}

// clampInt narrows a wire limit to an int; on 32-bit platforms a limit
// beyond the int range is the same as "as many as there are".
func clampInt(n int64) int {
	switch {
	case n > math.MaxInt:
		return math.MaxInt
	case n < math.MinInt:
		return math.MinInt
	}
	return int(n)
}
