package wire

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel pairs a kind's sentinel error with the gRPC code it travels as,
// so that errors.Is works on the host for errors the plugin returned. The
// store maps ErrNotFound to NotFound and ErrCorrupt to DataLoss; the codec
// maps its ErrCorrupt to DataLoss. A code means one sentinel per service,
// which is why each kind passes its own table.
type Sentinel struct {
	Err  error
	Code codes.Code
}

// ToStatus turns an implementation's error into the status the server
// answers with. The context errors and the sentinels keep their identity
// through their code; anything else is Unknown. The message is always the
// error's full text, so the host's log says what the plugin said.
//
// An implementation's own status errors (a store backed by a gRPC service)
// are not passed through: their codes mean something else to that service,
// and passing them on would make, say, its NotFound read as ErrNotFound.
func ToStatus(err error, sentinels ...Sentinel) error {
	if err == nil {
		return nil
	}
	code := codes.Unknown
	switch {
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	default:
		for _, s := range sentinels {
			if errors.Is(err, s.Err) {
				code = s.Code
				break
			}
		}
	}
	return status.Error(code, err.Error())
}

// Invalid is the answer of a server to a request it refuses to pass to its
// implementation.
func Invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// FromStatus turns the error of a client call into the error the kind's Go
// method returns. If the caller's ctx is done, the error wraps ctx.Err()
// whatever the server said. Canceled and DeadlineExceeded wrap the context
// errors, and each sentinel's code wraps its sentinel, keeping the server's
// message; other codes keep their status (status.Code works on the result).
// done is the context go-plugin cancels when the plugin process exits; a
// call failing after that is Unavailable and says the plugin exited.
func FromStatus(ctx, done context.Context, method string, err error, sentinels ...Sentinel) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		// Not from gRPC: a conversion error of our own, already worded.
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			return fmt.Errorf("%s: %w (%w)", method, ctxErr, err)
		}
		return fmt.Errorf("%s: %w", method, err)
	}
	re := &remoteError{status: st, msg: st.Message()}
	switch {
	case ctx.Err() != nil:
		re.wrapped = ctx.Err()
		re.msg = method + ": " + st.Message()
	case done != nil && done.Err() != nil:
		// The process is gone (crashed, or the host killed it). gRPC says
		// Canceled for a connection the host closed, which must not read
		// as the caller's context.Canceled; Unavailable is what it is.
		re.status = status.New(codes.Unavailable, "plugin exited: "+st.Message())
		re.msg = method + ": " + re.status.Message()
	case st.Code() == codes.Canceled:
		re.wrapped = context.Canceled
		re.msg = method + ": " + st.Message()
	case st.Code() == codes.DeadlineExceeded:
		re.wrapped = context.DeadlineExceeded
		re.msg = method + ": " + st.Message()
	case st.Code() == codes.Unknown, st.Code() == codes.InvalidArgument, st.Code() == codes.Internal:
		// The plugin's (or the protocol's) own words; prefix nothing, the
		// host adds which plugin it was.
	default:
		for _, s := range sentinels {
			if st.Code() == s.Code {
				re.wrapped = s.Err
				return re
			}
		}
		re.msg = fmt.Sprintf("%s: %s: %s", method, st.Code(), st.Message())
	}
	return re
}

// CheckContext is called before a client sends a request: a call given a
// context that is already done fails without reaching the plugin, as the
// kinds' contracts require even for empty batches.
func CheckContext(ctx context.Context, method string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	return nil
}

// remoteError is an error a plugin answered with. Its text is the plugin's
// message, unchanged, so that a sentinel's error reads the same on both
// sides; it unwraps to the sentinel or context error its code stands for,
// and keeps the status for status.Code.
type remoteError struct {
	status  *status.Status
	msg     string
	wrapped error
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Unwrap() error { return e.wrapped }

// GRPCStatus lets status.Code and status.FromError see the code the plugin
// answered with.
func (e *remoteError) GRPCStatus() *status.Status { return e.status }
