package web

import (
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{groupDigits("0"), "0"},
		{groupDigits("999"), "999"},
		{groupDigits("1000"), "1,000"},
		{groupDigits("-1234567.12345678"), "-1,234,567.12345678"},
		{formatNum(417910), "417,910"},
		{formatAmount(41791097127183), "417,910.97127183 BBP"},
		{formatAmount(-5), "-0.00000005 BBP"},
		{formatAmountShort(41791097127183), "417,910.97 BBP"},
		{formatAmountShort(41791099500000), "417,911.00 BBP"},
		{formatAmountShort(-150_000_000), "-1.50 BBP"},
		{formatAmountShort(-1), "0.00 BBP"},
		{formatBps(12345), "123.45 %"},
		{formatBps(9), "0.09 %"},
		{formatDuration(30 * time.Second), "less than a minute"},
		{formatDuration(185 * time.Minute), "3 h 5 min"},
		{formatDuration(52 * time.Hour), "2 d 4 h"},
		{explorerURL("https://x.org/tx/{txid}", "{txid}", "ab"), "https://x.org/tx/ab"},
		{explorerURL("https://x.org/block/", "{hash}", "cd"), "https://x.org/block/cd"},
		{explorerURL("", "{hash}", "cd"), ""},
		{string(timeHTML(time.Date(2026, 11, 7, 11, 5, 0, 0, time.UTC))), `<time datetime="2026-11-07T11:05:00Z">2026-11-07 11:05&nbsp;UTC</time>`},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
