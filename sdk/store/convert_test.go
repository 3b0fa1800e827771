package store

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
)

// A record that arrives malformed is named in the error by its shortened id:
// the id is a session's credential, and the error is logged.
func TestRecordFromProtoShortensID(t *testing.T) {
	const id = "Kq3vX9bLmN2pR7sT4wY6zA8cE1fH5jU0"
	_, err := recordFromProto(&pb.Record{Id: []byte(id), Expires: &timestamppb.Timestamp{Nanos: -1}})
	switch {
	case err == nil:
		t.Fatal("a record with an invalid expiry was accepted")
	case strings.Contains(err.Error(), id):
		t.Errorf("error %q carries the whole id", err)
	case !strings.Contains(err.Error(), LogID(id)):
		t.Errorf("error %q does not name the record as %s", err, LogID(id))
	}
}
