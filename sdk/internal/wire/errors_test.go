package wire

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var errSentinel = errors.New("kind: sentinel")

// An error crosses ToStatus then FromStatus keeping its identity and text.
func TestErrorRoundTrip(t *testing.T) {
	sentinels := []Sentinel{{Err: errSentinel, Code: codes.NotFound}}
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		in   error
		code codes.Code
		is   error
	}{
		{"sentinel", fmt.Errorf("id 7: %w", errSentinel), codes.NotFound, errSentinel},
		{"canceled", fmt.Errorf("backend: %w", context.Canceled), codes.Canceled, context.Canceled},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, context.DeadlineExceeded},
		{"other", errors.New("disk on fire"), codes.Unknown, nil},
		// A status error from the implementation's own backend does not
		// pass through: its NotFound is not our sentinel.
		{"foreign status", status.Error(codes.NotFound, "table missing"), codes.Unknown, nil},
	} {
		st := ToStatus(tt.in, sentinels...)
		if got := status.Code(st); got != tt.code {
			t.Errorf("%s: ToStatus code %v, want %v", tt.name, got, tt.code)
		}
		out := FromStatus(ctx, ctx, "kind.Call", st, sentinels...)
		if tt.is != nil && !errors.Is(out, tt.is) {
			t.Errorf("%s: %v does not wrap %v", tt.name, out, tt.is)
		}
		if tt.is == nil && (errors.Is(out, errSentinel) || errors.Is(out, context.Canceled)) {
			t.Errorf("%s: %v wraps a sentinel it should not", tt.name, out)
		}
		if status.Code(out) != tt.code {
			t.Errorf("%s: status.Code(FromStatus) = %v, want %v", tt.name, status.Code(out), tt.code)
		}
	}
	if ToStatus(nil) != nil || FromStatus(ctx, ctx, "kind.Call", nil) != nil {
		t.Error("nil error did not stay nil")
	}
}

func TestFromStatusContextWins(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := FromStatus(ctx, context.Background(), "kind.Call", status.Error(codes.NotFound, "x"), Sentinel{Err: errSentinel, Code: codes.NotFound})
	if !errors.Is(err, context.Canceled) || errors.Is(err, errSentinel) {
		t.Errorf("done ctx: %v, want context.Canceled only", err)
	}
	err = FromStatus(ctx, context.Background(), "kind.Call", errors.New("bad answer"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("done ctx, non-status error: %v, want context.Canceled", err)
	}
	if err := CheckContext(ctx, "kind.Call"); !errors.Is(err, context.Canceled) {
		t.Errorf("CheckContext: %v", err)
	}
}

func TestFromStatusPluginExited(t *testing.T) {
	done, exit := context.WithCancel(context.Background())
	exit()
	err := FromStatus(context.Background(), done, "kind.Call", status.Error(codes.Canceled, "grpc: the client connection is closing"))
	if status.Code(err) != codes.Unavailable || errors.Is(err, context.Canceled) {
		t.Errorf("after exit: %v (%v), want Unavailable, not Canceled", err, status.Code(err))
	}
}

func TestFromStatusOtherCodes(t *testing.T) {
	ctx := context.Background()
	err := FromStatus(ctx, ctx, "kind.Call", status.Error(codes.ResourceExhausted, "message larger than max"))
	if want := "kind.Call: ResourceExhausted: message larger than max"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}
