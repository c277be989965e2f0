package web

import (
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/purepool/purepool/projections"
)

// How the pages write numbers, amounts and times: by integer arithmetic,
// with thousands separators, amounts with their unit, times on one line.

// groupDigits writes the integer part of a decimal with thousands
// separators: "1234567" → "1,234,567", "-1234.5" → "-1,234.5".
func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// formatNum writes an integer with thousands separators.
func formatNum(v int64) string { return groupDigits(strconv.FormatInt(v, 10)) }

// formatAmount writes satoshis as BBP in full (8 decimals), with
// thousands separators and the unit: "417,910.97127183 BBP".
func formatAmount(sat int64) string { return groupDigits(projections.FormatBBP(sat)) + " BBP" }

// formatAmountShort writes satoshis as BBP rounded half away from zero
// to 2 decimals, for overviews: "417,910.97 BBP". Where a miner checks a
// payment the pages use formatAmount.
func formatAmountShort(sat int64) string {
	neg := sat < 0
	u := uint64(sat)
	if neg {
		u = uint64(-(sat + 1)) + 1
	}
	cents := (u + 500_000) / 1_000_000 // hundredths of a BBP
	s := strconv.FormatUint(cents/100, 10) + "." + strconv.FormatUint(cents/10%10, 10) + strconv.FormatUint(cents%10, 10)
	if neg && cents > 0 {
		s = "-" + s
	}
	return groupDigits(s) + " BBP"
}

// amountHTML is formatAmountShort with the full amount as its title.
func amountHTML(sat int64) template.HTML {
	return template.HTML(`<span class="amt" title="` + formatAmount(sat) + `">` + formatAmountShort(sat) + `</span>`)
}

// timeHTML writes a time on one line as a <time> element.
func timeHTML(t time.Time) template.HTML {
	if t.IsZero() {
		return "–"
	}
	t = t.UTC()
	return template.HTML(`<time datetime="` + t.Format(time.RFC3339) + `">` + t.Format("2006-01-02 15:04") + `&nbsp;UTC</time>`)
}

// formatAgo writes how long ago t was, relative to now: "just now",
// "12 min ago", "3 h 5 min ago", "2 d 4 h ago".
func formatAgo(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "just now"
	}
	return formatDuration(d) + " ago"
}

// formatDuration writes a duration to the minute: "just now" below one,
// "12 min", "3 h 5 min", "2 d 4 h".
func formatDuration(d time.Duration) string {
	m := int64(d / time.Minute)
	switch {
	case m < 1:
		return "less than a minute"
	case m < 60:
		return strconv.FormatInt(m, 10) + " min"
	case m < 24*60:
		s := strconv.FormatInt(m/60, 10) + " h"
		if m%60 != 0 {
			s += " " + strconv.FormatInt(m%60, 10) + " min"
		}
		return s
	default:
		s := strconv.FormatInt(m/(24*60), 10) + " d"
		if h := m % (24 * 60) / 60; h != 0 {
			s += " " + strconv.FormatInt(h, 10) + " h"
		}
		return s
	}
}

// formatBps writes hundredths of a percent: 12345 → "123.45 %".
func formatBps(bp int64) string {
	return groupDigits(strconv.FormatInt(bp/100, 10)) + "." + strconv.FormatInt(bp%100/10, 10) + strconv.FormatInt(bp%10, 10) + " %"
}

// explorerURL fills an explorer URL template: "{txid}" or "{hash}" is
// replaced by id, or id is appended when there is no placeholder. "" when
// no template is configured.
func explorerURL(tmpl, placeholder, id string) string {
	if tmpl == "" || id == "" {
		return ""
	}
	esc := url.PathEscape(id)
	if strings.Contains(tmpl, placeholder) {
		return strings.ReplaceAll(tmpl, placeholder, esc)
	}
	return tmpl + esc
}

// idLink writes a transaction id or block hash in full (it wraps on a
// phone), as a link to the explorer when one is configured.
func idLink(href, id string) template.HTML {
	e := template.HTMLEscapeString(id)
	if href == "" {
		return template.HTML(`<span class="hash">` + e + `</span>`)
	}
	return template.HTML(`<a class="hash ext" href="` + template.HTMLEscapeString(href) + `" rel="noopener" title="open in the block explorer">` + e + `</a>`)
}

// shortIDLink is idLink for tables: the id shortened, the full one in the title.
func shortIDLink(href, id string) template.HTML {
	e := template.HTMLEscapeString(id)
	s := template.HTMLEscapeString(shortHash(id))
	if href == "" {
		return template.HTML(`<span class="hash" title="` + e + `">` + s + `</span>`)
	}
	return template.HTML(`<a class="hash ext" href="` + template.HTMLEscapeString(href) + `" rel="noopener" title="` + e + ` (block explorer)">` + s + `</a>`)
}
