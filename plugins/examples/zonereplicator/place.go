package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/wadi-go/wadi/sdk/replicator"
)

// ctxEvery is how many partitions place computes between looks at its
// context: often enough to stop promptly, rarely enough to cost nothing.
const ctxEvery = 64

// candidate is a member ranked for one partition.
type candidate struct {
	// zone is the member's zone, or with by its meta value for by.
	name, zone string
	hash       uint64 // of the name, computed once per Place
	score      uint64 // for the partition being placed
}

// place computes the backups of every partition by rendezvous hashing: each
// member gets a pseudo-random score per partition, from the partition's index
// and the member's name alone, and the best-scored members that the zone
// rules allow become its backups. Every node computes the same table from
// the same farm, whatever the order it lists members in, and a member that
// joins or leaves moves only the copies of the partitions it wins or held.
//
// The zone rules, in order of preference, up to n backups:
//
//  1. the best member of each zone other than the primary's, best zones
//     first: a zone lost then costs one copy at most;
//  2. more members of other zones, best first;
//  3. only with allowSameZone, members of the primary's zone, best first.
//
// With by set, a member's zone is its Meta[by] instead.
func place(ctx context.Context, req replicator.PlaceRequest, n int, allowSameZone bool, by string) ([][]string, error) {
	members, err := checkRequest(req, by)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]candidate, len(members))
	for _, m := range members {
		byName[m.name] = m
	}
	out := make([][]string, len(req.Primaries))
	ranked := make([]candidate, 0, len(members))
	usedZones := map[string]bool{}
	for p, primaryName := range req.Primaries {
		if p%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		primary := byName[primaryName]
		ranked = ranked[:0]
		for _, m := range members {
			if m.name != primary.name {
				m.score = mix(m.hash ^ mix(uint64(p)))
				ranked = append(ranked, m)
			}
		}
		// Names break ties, so the order is total and the same everywhere.
		slices.SortFunc(ranked, func(a, b candidate) int {
			return cmp.Or(cmp.Compare(b.score, a.score), strings.Compare(a.name, b.name))
		})
		clear(usedZones)
		backups := make([]string, 0, min(n, len(ranked)))
		taken := make([]bool, len(ranked))
		pick := func(ok func(c candidate) bool) {
			for i, c := range ranked {
				if len(backups) == n {
					return
				}
				if !taken[i] && ok(c) {
					taken[i] = true
					usedZones[c.zone] = true
					backups = append(backups, c.name)
				}
			}
		}
		pick(func(c candidate) bool { return c.zone != primary.zone && !usedZones[c.zone] })
		pick(func(c candidate) bool { return c.zone != primary.zone })
		if allowSameZone {
			pick(func(c candidate) bool { return c.zone == primary.zone })
		}
		out[p] = backups
	}
	return out, nil
}

// checkRequest refuses a request the host should never send, rather than
// place backups on a farm it misdescribes, and returns its members sorted
// by name with their hashes and zones (Meta[by], with by).
func checkRequest(req replicator.PlaceRequest, by string) ([]candidate, error) {
	if len(req.Members) == 0 {
		return nil, errors.New("no members")
	}
	members := make([]candidate, len(req.Members))
	seen := make(map[string]bool, len(req.Members))
	for i, m := range req.Members {
		if m.Name == "" {
			return nil, fmt.Errorf("member %d has no name", i)
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("member %q is listed twice", m.Name)
		}
		seen[m.Name] = true
		zone := m.Zone
		if by != "" {
			zone = m.Meta[by]
		}
		members[i] = candidate{name: m.Name, zone: zone, hash: nameHash(m.Name)}
	}
	for p, primary := range req.Primaries {
		if !seen[primary] {
			return nil, fmt.Errorf("partition %d: primary %q is not a member", p, primary)
		}
	}
	// Sorted, so that the placement does not depend on the order the host
	// lists members in; on a copy, since the request is the host's.
	slices.SortFunc(members, func(a, b candidate) int { return strings.Compare(a.name, b.name) })
	return members, nil
}

// nameHash is FNV-1a of a member's name: fixed by its specification, so
// nodes built by different compilers or for different machines agree.
func nameHash(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name)) // a hash.Hash never returns an error
	return h.Sum64()
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
