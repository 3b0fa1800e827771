package testimpl

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/replicator"
)

// Replicator is a replicator.Plugin that places backups round robin: the
// backups of a partition are the members that follow its primary in name
// order.
type Replicator struct {
	*Base
	backups int
}

var _ replicator.Plugin = (*Replicator)(nil)

// NewReplicator returns a replicator keeping the given number of backups,
// logging to logger (nil: nowhere).
func NewReplicator(backups int, logger hclog.Logger) *Replicator {
	return &Replicator{Base: newBase(base.KindReplicator, logger), backups: backups}
}

// Settings implements replicator.Replicator.
func (r *Replicator) Settings(ctx context.Context) (replicator.Settings, error) {
	if err := ctx.Err(); err != nil {
		return replicator.Settings{}, err
	}
	return replicator.Settings{Backups: r.backups, Mode: replicator.Sync, Granularity: replicator.Attribute}, nil
}

// Place implements replicator.Replicator.
func (r *Replicator) Place(ctx context.Context, req replicator.PlaceRequest) ([][]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("test-replicator: place: %w", err)
	}
	names := make([]string, 0, len(req.Members))
	for _, m := range req.Members {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	table := make([][]string, len(req.Primaries))
	for p, primary := range req.Primaries {
		start, _ := slices.BinarySearch(names, primary)
		var backups []string
		for i := 0; i < len(names) && len(backups) < r.backups; i++ {
			if n := names[(start+i)%len(names)]; n != primary {
				backups = append(backups, n)
			}
		}
		table[p] = backups
	}
	return table, nil
}
