// Package cluster turns single nodes into a farm: membership by gossip, the
// partitioned directory that records where each session lives, and the
// partition table that says which node keeps which part of the directory.
package cluster

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
)

// Version identifies a partition table. Tables are issued by the
// coordinator; a coordinator that takes over starts above every number it
// has seen, and the issuer's name makes two coordinators that briefly
// overlap during churn issue different versions rather than one version
// with two contents. So a version names exactly one table.
type Version struct {
	N  uint64
	By string // the coordinator that issued it
}

// Less orders versions: by number, then by issuer, so that every node
// settles on the same table when two were issued concurrently.
func (v Version) Less(w Version) bool {
	if v.N != w.N {
		return v.N < w.N
	}
	return v.By < w.By
}

func (v Version) String() string { return fmt.Sprintf("%d@%s", v.N, v.By) }

// Table assigns each partition of the directory to one member.
type Table struct {
	Version Version
	// Owners[p] is the name of the member that keeps partition p.
	Owners []string
	// Members are the members the table was computed for: each reports
	// what it holds when the table changes.
	Members []string
}

// Owner returns the owner of the partition, "" for a table that has none.
func (t *Table) Owner(p int) string {
	if t == nil || p < 0 || p >= len(t.Owners) {
		return ""
	}
	return t.Owners[p]
}

// Partition maps a session id to its partition.
func Partition(id string, partitions int) int {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int(h.Sum64() % uint64(partitions))
}

// ComputeOwners assigns partitions to members by rendezvous hashing: each
// partition goes to the member with the highest score for it, so a member
// joining or leaving moves only the partitions it gains or loses.
func ComputeOwners(members []string, partitions int) []string {
	owners := make([]string, partitions)
	if len(members) == 0 {
		return owners
	}
	sorted := slices.Clone(members)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var buf [8]byte
	for p := range owners {
		binary.BigEndian.PutUint64(buf[:], uint64(p))
		var best uint64
		for i, m := range sorted {
			h := fnv.New64a()
			h.Write(buf[:])
			h.Write([]byte(m))
			if s := mix(h.Sum64()); i == 0 || s > best {
				best, owners[p] = s, m
			}
		}
	}
	return owners
}

// mix spreads FNV's output (splitmix64's finaliser): FNV of inputs that
// differ only in their last bytes is not uniform in its high bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Coordinator returns the member that computes tables: the oldest, by the
// start time each member announces, ties broken by name. Every member sees
// the same announcements, so every member elects the same coordinator
// without a vote; skewed clocks only change which member that is.
func Coordinator(members []Member) (Member, bool) {
	if len(members) == 0 {
		return Member{}, false
	}
	return slices.MinFunc(members, func(a, b Member) int {
		return cmp.Or(cmp.Compare(a.Started, b.Started), cmp.Compare(a.Name, b.Name))
	}), true
}
