package router

import (
	"fmt"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
)

// Conversions between the router's Go types and the wire. A Miss travels as
// bytes, field by field, since its text comes from clients and need not be
// UTF-8.

func missToProto(m Miss) *pb.Miss {
	return &pb.Miss{
		SessionId: []byte(m.SessionID),
		RouteHint: []byte(m.RouteHint),
		Here:      []byte(m.Here),
		Holder:    []byte(m.Holder),
		HolderUrl: []byte(m.HolderURL),
		Method:    []byte(m.Method),
		Host:      []byte(m.Host),
		Path:      []byte(m.Path),
	}
}

// missFromProto converts a Miss and refuses fields beyond maxMissField.
func missFromProto(m *pb.Miss) (Miss, error) {
	fields := []struct {
		name string
		v    []byte
	}{
		{"session id", m.GetSessionId()},
		{"route hint", m.GetRouteHint()},
		{"here", m.GetHere()},
		{"holder", m.GetHolder()},
		{"holder URL", m.GetHolderUrl()},
		{"method", m.GetMethod()},
		{"host", m.GetHost()},
		{"path", m.GetPath()},
	}
	for _, f := range fields {
		if len(f.v) > maxMissField {
			return Miss{}, fmt.Errorf("miss %s of %d bytes, more than %d", f.name, len(f.v), maxMissField)
		}
	}
	return Miss{
		SessionID: string(m.GetSessionId()),
		RouteHint: string(m.GetRouteHint()),
		Here:      string(m.GetHere()),
		Holder:    string(m.GetHolder()),
		HolderURL: string(m.GetHolderUrl()),
		Method:    string(m.GetMethod()),
		Host:      string(m.GetHost()),
		Path:      string(m.GetPath()),
	}, nil
}

// actionToProto refuses an Action the protocol has no value for, so that a
// router's bug is an error for its call, not an unspecified action.
func actionToProto(a Action) (pb.Action, error) {
	switch a {
	case Migrate:
		return pb.Action_ACTION_MIGRATE, nil
	case Proxy:
		return pb.Action_ACTION_PROXY, nil
	case Redirect:
		return pb.Action_ACTION_REDIRECT, nil
	}
	return pb.Action_ACTION_UNSPECIFIED, fmt.Errorf("unknown action %v", a)
}

func actionFromProto(a pb.Action) (Action, error) {
	switch a {
	case pb.Action_ACTION_MIGRATE:
		return Migrate, nil
	case pb.Action_ACTION_PROXY:
		return Proxy, nil
	case pb.Action_ACTION_REDIRECT:
		return Redirect, nil
	}
	return 0, fmt.Errorf("unknown action %v", a)
}
