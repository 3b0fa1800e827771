package replicators

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/wadi-go/wadi/sdk/replicator"
)

// ctxWork is how many member scores placement computes between looks at its
// context: often enough to stop promptly on a large table, rarely enough to
// cost nothing on the usual one (271 partitions of a few members).
const ctxWork = 1 << 14

// farm is a validated PlaceRequest: the member names sorted, so that
// placement does not depend on the order the host lists them in, with their
// hashes, and each partition's primary as an index into them.
type farm struct {
	names     []string
	hashes    []uint64
	primaries []int
}

// newFarm validates req and returns its farm; req is the host's and is not
// changed.
func newFarm(req replicator.PlaceRequest) (*farm, error) {
	if len(req.Members) == 0 {
		return nil, errors.New("no members")
	}
	names := make([]string, len(req.Members))
	for i, m := range req.Members {
		if m.Name == "" {
			return nil, fmt.Errorf("member %d has no name", i)
		}
		names[i] = m.Name
	}
	slices.Sort(names)
	// A name listed twice, even with the same zone, means the host's view
	// of the farm is wrong; placing on it would hide the mistake.
	for i := 1; i < len(names); i++ {
		if names[i] == names[i-1] {
			return nil, fmt.Errorf("member %q is listed twice", names[i])
		}
	}
	index := make(map[string]int, len(names))
	hashes := make([]uint64, len(names))
	for i, n := range names {
		index[n] = i
		hashes[i] = nameHash(n)
	}
	primaries := make([]int, len(req.Primaries))
	last, lastIndex := "", -1
	for p, name := range req.Primaries {
		// The host names one primary for every partition: look it up once.
		if lastIndex < 0 || name != last {
			i, ok := index[name]
			if !ok {
				return nil, fmt.Errorf("partition %d: primary %q is not a member", p, name)
			}
			last, lastIndex = name, i
		}
		primaries[p] = lastIndex
	}
	return &farm{names: names, hashes: hashes, primaries: primaries}, nil
}

// scored is a member ranked for one partition.
type scored struct {
	score  uint64
	member int // index into farm.names
}

// placeRendezvous gives each partition the n best-scored members other than
// its primary (fewer when the farm is smaller), best first. A member's
// score for a partition is a hash of the partition's index and the member's
// name alone, so:
//
//   - every node computes the same table from the same farm;
//   - the partitions of one primary spread evenly over the other members;
//   - a member that leaves changes only the partitions it was a backup of,
//     and one that joins only those it now wins: about n/members of them.
//
// Equal scores, vanishingly rare, are broken by name.
func placeRendezvous(ctx context.Context, f *farm, n int) ([][]string, error) {
	out := make([][]string, len(f.primaries))
	k := min(n, len(f.names)-1)
	if k <= 0 {
		return out, nil
	}
	// One allocation for the whole table; each entry's capacity is capped,
	// so that appending to one cannot overwrite the next.
	flat := make([]string, len(f.primaries)*k)
	top := make([]scored, 0, k)
	work := 0
	for p, primary := range f.primaries {
		if work += len(f.names); work >= ctxWork {
			work = 0
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		salt := mix(uint64(p))
		top = top[:0]
		for i, h := range f.hashes {
			if i == primary {
				continue
			}
			s := mix(h ^ salt)
			if len(top) < k {
				top = append(top, scored{})
			} else if s <= top[k-1].score {
				// Not better than the worst kept; on a tie the kept member
				// has the smaller name, since members come in name order.
				continue
			}
			// Insert, keeping top sorted by score, best first; the last
			// slot is either new or the evicted worst.
			j := len(top) - 1
			for j > 0 && top[j-1].score < s {
				top[j] = top[j-1]
				j--
			}
			top[j] = scored{score: s, member: i}
		}
		backups := flat[p*k : p*k+k : p*k+k]
		for i, c := range top {
			backups[i] = f.names[c.member]
		}
		out[p] = backups
	}
	return out, nil
}

// placeAll gives each partition every member but its primary, in name
// order. The partitions of one primary share one slice: a copy each would
// cost partitions × members strings, gigabytes for the largest request the
// wire allows.
func placeAll(ctx context.Context, f *farm) ([][]string, error) {
	out := make([][]string, len(f.primaries))
	if len(f.names) < 2 {
		return out, nil
	}
	byPrimary := make([][]string, len(f.names))
	work := 0
	for p, primary := range f.primaries {
		work++
		b := byPrimary[primary]
		if b == nil {
			work += len(f.names)
		}
		if work >= ctxWork {
			work = 0
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if b == nil {
			b = make([]string, 0, len(f.names)-1)
			b = append(b, f.names[:primary]...)
			b = append(b, f.names[primary+1:]...)
			byPrimary[primary] = b
		}
		out[p] = b
	}
	return out, nil
}

// nameHash is FNV-1a (64 bits) of a member's name: fixed by its
// specification, so nodes built by different compilers or for different
// machines agree. It is hash/fnv's New64a, without the allocations.
func nameHash(name string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= prime64
	}
	return h
}

// mix is splitmix64's finaliser: it spreads every input bit over the whole
// result, so that nearby partition indexes and names that differ in one
// character get unrelated scores.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
