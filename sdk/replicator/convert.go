package replicator

import (
	"fmt"
	"math"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
)

// Conversions between the replicator's Go types and the wire. Empty and nil
// are one value on the wire; what arrives is nil for an empty list or map.

func settingsFromProto(resp *pb.SettingsResponse) (Settings, error) {
	b := resp.GetBackups()
	if b < 0 || b > math.MaxInt32 {
		return Settings{}, fmt.Errorf("backups %d out of range", b)
	}
	return Settings{Backups: int(b), Mode: Mode(resp.GetMode()), Granularity: Granularity(resp.GetGranularity())}, nil
}

func placeRequestToProto(r PlaceRequest) *pb.PlaceRequest {
	out := &pb.PlaceRequest{Primaries: r.Primaries}
	if len(r.Members) > 0 {
		out.Members = make([]*pb.Member, len(r.Members))
		for i, m := range r.Members {
			out.Members[i] = &pb.Member{Name: m.Name, Zone: m.Zone, Meta: m.Meta}
		}
	}
	return out
}

// placeRequestFromProto converts a request and refuses one beyond the
// bounds above. Empty lists and maps arrive as nil.
func placeRequestFromProto(r *pb.PlaceRequest) (PlaceRequest, error) {
	ms, ps := r.GetMembers(), r.GetPrimaries()
	switch {
	case len(ms) > maxMembers:
		return PlaceRequest{}, fmt.Errorf("%d members, more than %d", len(ms), maxMembers)
	case len(ps) > maxPartitions:
		return PlaceRequest{}, fmt.Errorf("%d partitions, more than %d", len(ps), maxPartitions)
	}
	var out PlaceRequest
	if len(ms) > 0 {
		out.Members = make([]Member, len(ms))
		for i, m := range ms {
			if m == nil {
				return PlaceRequest{}, fmt.Errorf("member %d missing", i)
			}
			out.Members[i] = Member{Name: m.GetName(), Zone: m.GetZone()}
			if meta := m.GetMeta(); len(meta) > 0 {
				out.Members[i].Meta = meta
			}
		}
	}
	if len(ps) > 0 {
		out.Primaries = ps
	}
	return out, nil
}

func tableToProto(table [][]string) []*pb.Backups {
	if len(table) == 0 {
		return nil
	}
	out := make([]*pb.Backups, len(table))
	for i, nodes := range table {
		out[i] = &pb.Backups{Nodes: nodes}
	}
	return out
}

// tableFromProto converts a placement back: nil for an empty table, and nil
// for a partition with no backups.
func tableFromProto(ps []*pb.Backups) [][]string {
	if len(ps) == 0 {
		return nil
	}
	out := make([][]string, len(ps))
	for i, p := range ps {
		if nodes := p.GetNodes(); len(nodes) > 0 {
			out[i] = nodes
		}
	}
	return out
}

func errTableLen(partitions, placed int) error {
	return fmt.Errorf("replicator.Place: %d placements for %d partitions", placed, partitions)
}
