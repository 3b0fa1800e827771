package codec

import "fmt"

// Conversions between the codec's Go types and the wire.

// itemsFromProto returns nil for an empty batch and a non-nil slice for
// every item.
func itemsFromProto(items [][]byte) [][]byte {
	if len(items) == 0 {
		return nil
	}
	for i := range items {
		items[i] = payload(items[i])
	}
	return items
}

// payload returns b, or an empty non-nil slice for nil.
func payload(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func errBatchLen(in, out int) error {
	return fmt.Errorf("codec.Encode: %d outputs for %d items", out, in)
}
