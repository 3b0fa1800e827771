// Package payload builds realistic serialised sessions for the codecs'
// tests and benchmarks: JSON objects of mixed values — a user, ids,
// timestamps, small nested objects, a shopping cart, a browsing history —
// marshalled with encoding/json, deterministic for a seed. Compression
// ratios measured on them mean something, unlike ratios on random bytes or
// on one string repeated.
package payload

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// MinSize is the smallest size Session can hit exactly: the fixed part of
// the session and room for the padding field.
const MinSize = 1024

var (
	firstNames = []string{"amelie", "bruno", "chen", "dagny", "emeka", "farah", "goran", "hiroko",
		"ines", "jakob", "kalani", "lukas", "maite", "nikos", "oksana", "priya", "quentin", "rania"}
	lastNames = []string{"andersen", "baptiste", "castillo", "dubois", "eriksen", "fontaine",
		"garcia", "hoffmann", "iyer", "jansen", "kowalski", "lindqvist", "moreau", "nakamura"}
	products = []string{"espresso cups", "linen shirt", "trail shoes", "desk lamp", "wool scarf",
		"usb-c cable", "notebook a5", "cast iron pan", "rain jacket", "yoga mat", "tea sampler",
		"wireless mouse", "hiking socks", "water bottle", "chef knife", "board game"}
	paths = []string{"/", "/search", "/category/kitchen", "/category/outdoor", "/product", "/cart",
		"/checkout/address", "/checkout/payment", "/account/orders", "/help/shipping"}
	referrers = []string{"", "https://www.example.com/", "https://news.example.org/deals",
		"https://mail.example.net/", "https://social.example.io/feed"}
	words = strings.Fields(`gift wrap please leave at the door ring twice fragile deliver
		after six weekend only call before arrival side entrance second floor`)
	locales    = []string{"en-GB", "fr-FR", "de-DE", "es-ES", "nl-NL", "sv-SE", "ja-JP"}
	currencies = []string{"EUR", "GBP", "SEK", "JPY", "USD"}
)

// epoch anchors the timestamps, so that a seed always gives the same bytes.
var epoch = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

type gen struct{ rng *rand.Rand }

func (g gen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }
func (g gen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}
func (g gen) at(maxBack time.Duration) string {
	return epoch.Add(-time.Duration(g.rng.Int64N(int64(maxBack)))).Format(time.RFC3339Nano)
}
func (g gen) price() float64 { return float64(g.rng.IntN(20000)+99) / 100 }

func (g gen) cartItem() map[string]any {
	return map[string]any{
		"sku":      fmt.Sprintf("SKU-%06d", g.rng.IntN(1000000)),
		"name":     g.pick(products),
		"qty":      g.rng.IntN(4) + 1,
		"price":    g.price(),
		"added_at": g.at(72 * time.Hour),
		"options":  map[string]any{"gift": g.rng.IntN(5) == 0, "size": g.pick([]string{"S", "M", "L", "XL", "one"})},
	}
}

func (g gen) event() map[string]any {
	e := map[string]any{"path": g.pick(paths), "at": g.at(6 * time.Hour), "ms": g.rng.IntN(900) + 12}
	if r := g.pick(referrers); r != "" {
		e["referrer"] = r
	}
	if g.rng.IntN(3) == 0 {
		e["query"] = map[string]any{"q": g.pick(products), "page": g.rng.IntN(5) + 1}
	}
	return e
}

// Session returns a JSON object of exactly size bytes shaped like a web
// shop's session, the same for the same seed and different for another.
// Below MinSize it returns the smallest such object, which is longer.
func Session(size int, seed uint64) []byte {
	g := gen{rand.New(rand.NewPCG(seed, 0x5e551011))}
	first, last := g.pick(firstNames), g.pick(lastNames)
	var cart, history, viewed []any
	s := map[string]any{
		"user": map[string]any{
			"id": g.rng.IntN(10000000), "name": first + " " + last,
			"email":       first + "." + last + "@example.com",
			"roles":       []string{"customer"},
			"verified":    g.rng.IntN(2) == 0,
			"preferences": map[string]any{"locale": g.pick(locales), "theme": g.pick([]string{"dark", "light"}), "newsletter": g.rng.IntN(2) == 0},
		},
		"session_id": g.hex(32),
		"csrf_token": g.hex(40),
		"created_at": g.at(48 * time.Hour),
		"last_seen":  g.at(time.Hour),
		"ip":         fmt.Sprintf("203.0.113.%d", g.rng.IntN(254)+1),
		"user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
		"flash":      nil,
		"counter":    g.rng.IntN(500),
	}
	// Grow the lists in turn until the object is nearly big enough. Each
	// element's marshalled length plus its comma is what it adds, so the
	// whole object is marshalled only once more at the end.
	base := marshal(s) + len(`,"cart":{"currency":"EUR","items":[],"total":0000000.00},"history":[],"viewed":[]`)
	const slack = 160 // room for the padding field and the cart total
	for n, i := base, 0; n < size-slack; i++ {
		var el any
		switch i % 3 {
		case 0:
			el = g.cartItem()
			cart = append(cart, el)
		case 1:
			el = g.event()
			history = append(history, el)
		default:
			el = fmt.Sprintf("SKU-%06d", g.rng.IntN(1000000))
			viewed = append(viewed, el)
		}
		n += marshal(el) + 1
	}
	total := 0.0
	for _, it := range cart {
		m := it.(map[string]any)
		total += m["price"].(float64) * float64(m["qty"].(int))
	}
	s["cart"] = map[string]any{"currency": g.pick(currencies), "items": orEmpty(cart), "total": float64(int(total*100)) / 100}
	s["history"], s["viewed"] = orEmpty(history), orEmpty(viewed)
	// A note of free text pads the object to the exact size.
	const noteField = `,"note":""`
	out := mustMarshal(s)
	if pad := size - len(out) - len(noteField); pad >= 0 {
		s["note"] = g.text(pad)
		out = mustMarshal(s)
	}
	return out
}

func orEmpty(xs []any) []any {
	if xs == nil {
		return []any{}
	}
	return xs
}

// text returns n bytes of words, characters that JSON does not escape.
func (g gen) text(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(g.pick(words))
	}
	return b.String()[:n]
}

func marshal(v any) int { return len(mustMarshal(v)) }

// mustMarshal marshals values built above, of types encoding/json always
// takes: an error is a bug in this file.
func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("payload: %v", err))
	}
	return b
}
