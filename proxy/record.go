package proxy

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRecord appends r as encoding/json would write it (json.Marshal(r))
// to dst. It is the ledger's encoder: json.Marshal cost a tenth of the
// proxy's own work per request, through reflection and a second pass that
// validates what Time.MarshalJSON wrote. FuzzRecord holds the two to the
// same bytes. What this does not write itself (a string that needs
// escaping, a float in exponent form, a time outside years 0–9999) it
// leaves to encoding/json.
func appendRecord(dst []byte, r *Record) ([]byte, error) {
	var err error
	dst = append(dst, `{"time":`...)
	if y := r.Time.Year(); y >= 0 && y <= 9999 {
		dst = append(dst, '"')
		if r.Time.Location() == time.UTC {
			dst = appendUTC(dst, r.Time)
		} else {
			dst = r.Time.AppendFormat(dst, time.RFC3339Nano)
		}
		dst = append(dst, '"')
	} else if dst, err = appendMarshal(dst, r.Time); err != nil {
		return dst, err
	}
	dst = append(dst, `,"profile":`...)
	dst = appendJSONString(dst, r.Profile)
	dst = append(dst, `,"method":`...)
	dst = appendJSONString(dst, r.Method)
	dst = append(dst, `,"path":`...)
	dst = appendJSONString(dst, r.Path)
	if r.Model != "" {
		dst = append(dst, `,"model":`...)
		dst = appendJSONString(dst, r.Model)
	}
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, `,"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, r.PromptTokens, 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, r.CompletionTokens, 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, r.TotalTokens, 10)
	dst = append(dst, `,"latency_ms":`...)
	if f := math.Abs(r.LatencyMS); f == 0 || f >= 1e-6 && f < 1e21 {
		dst = strconv.AppendFloat(dst, r.LatencyMS, 'f', -1, 64)
	} else if dst, err = appendMarshal(dst, r.LatencyMS); err != nil {
		return dst, err // NaN or ±Inf
	}
	if r.Streamed {
		dst = append(dst, `,"streamed":true`...)
	}
	if r.Refused != "" {
		dst = append(dst, `,"refused":`...)
		dst = appendJSONString(dst, r.Refused)
	}
	return append(dst, '}'), nil
}

// appendJSONString appends s as a JSON string, as encoding/json writes it.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // strings always encode
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendMarshal(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// appendUTC appends t (in UTC, years 0–9999) as RFC 3339 with nanoseconds,
// trailing zeros trimmed: t.AppendFormat(dst, time.RFC3339Nano), faster.
func appendUTC(dst []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	dst = appendDigits(dst, y, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(mo), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, d, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, h, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, mi, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, s, 2)
	if ns := t.Nanosecond(); ns != 0 {
		digits := 9
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		dst = append(dst, '.')
		dst = appendDigits(dst, ns, digits)
	}
	return append(dst, 'Z')
}

// appendDigits appends n (≥ 0) in decimal, zero-padded to width digits.
func appendDigits(dst []byte, n, width int) []byte {
	var b [9]byte
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, b[:width]...)
}
