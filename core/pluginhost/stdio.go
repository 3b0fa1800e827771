package pluginhost

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// maxLogLine is the longest line a plugin's output is logged in one piece,
// go-plugin's own limit for its stderr.
const maxLogLine = 64 << 10

// stdioLogger logs what a plugin process writes to os.Stdout and os.Stderr
// once go-plugin's Serve has swapped them for pipes streamed to the host
// (ClientConfig.SyncStdout and SyncStderr); without it those lines, and
// those of a logger made after Serve, are dropped. Each line goes into log
// the way go-plugin logs the process's real stderr: an hclog JSON line at
// its level with its fields, any other at the level its prefix names
// ("[WARN] ...") or else at info.
type stdioLogger struct {
	log hclog.Logger
	std io.Writer // log's standard writer, for lines that are not hclog's

	mu   sync.Mutex
	part []byte // a line not yet ended; go-plugin streams in chunks
}

func newStdioLogger(log hclog.Logger) *stdioLogger {
	return &stdioLogger{log: log, std: log.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})}
}

// Write logs every line p ends and keeps the rest for the next Write.
func (w *stdioLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for {
		line, rest, ended := bytes.Cut(p, []byte{'\n'})
		if !ended {
			w.part = append(w.part, p...)
			if len(w.part) >= maxLogLine {
				w.logLine(w.part)
				w.part = w.part[:0]
			}
			return n, nil
		}
		if len(w.part) > 0 {
			line = append(w.part, line...)
			w.part = w.part[:0]
		}
		w.logLine(line)
		p = rest
	}
}

// Flush logs a last line the plugin did not end.
func (w *stdioLogger) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.part) > 0 {
		w.logLine(w.part)
		w.part = nil
	}
}

func (w *stdioLogger) logLine(line []byte) {
	line = bytes.TrimRight(line, "\r")
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	if level, msg, args, ok := parseLogJSON(line); ok {
		w.log.Log(level, msg, args...)
		return
	}
	_, _ = w.std.Write(line)
}

// parseLogJSON decodes a line of an hclog JSON logger (sdk.NewLogger) into
// what go-plugin makes of one on stderr: the message at its level, the
// other fields as arguments (in key order, for a stable line) and the
// plugin's timestamp as "timestamp".
func parseLogJSON(line []byte) (hclog.Level, string, []any, bool) {
	if line[0] != '{' {
		return hclog.NoLevel, "", nil, false
	}
	var fields map[string]any
	if err := json.Unmarshal(line, &fields); err != nil {
		return hclog.NoLevel, "", nil, false
	}
	levelName, _ := fields["@level"].(string)
	level := hclog.LevelFromString(levelName)
	msg, ok := fields["@message"].(string)
	if level == hclog.NoLevel || !ok {
		return hclog.NoLevel, "", nil, false // JSON, but not hclog's: verbatim
	}
	delete(fields, "@level")
	delete(fields, "@message")
	if ts, ok := fields["@timestamp"]; ok {
		delete(fields, "@timestamp")
		fields["timestamp"] = ts
	}
	args := make([]any, 0, 2*len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		args = append(args, k, fields[k])
	}
	return level, msg, args, true
}
