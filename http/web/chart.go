package web

import (
	"strconv"

	"github.com/purepool/purepool/projections"
)

// chart is a 7-day bar chart of shares with the pool's blocks per day,
// drawn as inline SVG by the templates. Coordinates are computed here with
// integer arithmetic, so the page needs no script.
type chart struct {
	Width, Height int
	Bars          []bar
	MaxShares     int64
	MaxBlocks     int64
	BlocksPath    string // SVG polyline points of blocks per day
}

type bar struct {
	X, Y, W, H int
	CX, CY     int // the block marker
	Label      string
	Shares     int64
	Blocks     int64
}

const (
	chartWidth  = 700
	chartHeight = 220
	chartTop    = 20
	chartBottom = 30 // room for the day labels
)

func newChart(days []projections.DayCount) chart {
	c := chart{Width: chartWidth, Height: chartHeight}
	for _, d := range days {
		c.MaxShares = max(c.MaxShares, d.Shares)
		c.MaxBlocks = max(c.MaxBlocks, d.Blocks)
	}
	plot := int64(chartHeight - chartTop - chartBottom)
	slot := chartWidth / max(1, len(days))
	for i, d := range days {
		h := 0
		if c.MaxShares > 0 {
			h = int(d.Shares * plot / c.MaxShares)
		}
		cy := chartHeight - chartBottom
		if c.MaxBlocks > 0 {
			cy -= int(d.Blocks * plot / c.MaxBlocks)
		}
		b := bar{X: i*slot + slot/6, W: slot * 2 / 3, H: h, Y: chartHeight - chartBottom - h,
			CX: i*slot + slot/2, CY: cy, Label: d.Day.Format("Mon 01-02"), Shares: d.Shares, Blocks: d.Blocks}
		c.Bars = append(c.Bars, b)
		if i > 0 {
			c.BlocksPath += " "
		}
		c.BlocksPath += strconv.Itoa(b.CX) + "," + strconv.Itoa(b.CY)
	}
	return c
}

// percentNumber is 100*num/den with two decimals ("12.34"), rounded half up,
// by integer arithmetic; "0" when den is 0, as Purepool answered.
func percentNumber(num, den int64) string {
	if den <= 0 {
		return "0"
	}
	p := projections.Percent(num, den)
	return p[:len(p)-1]
}
