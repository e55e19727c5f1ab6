package workflow

import "testing"

func TestClassifyAmounts(t *testing.T) {
	tests := []struct {
		text string
		want float64 // 0: none found
	}{
		{"$25,000", 25000}, {"$25k", 25000}, {"25K USD", 25000}, {"USD 12000", 12000}, {"usd12000", 12000},
		{"$12.5k", 12500}, {"$1.2M", 1.2e6}, {"$3mm", 3e6}, {"$2bn", 2e9}, {"1.2 million dollars", 1.2e6},
		{"12 000 USD", 12000}, {"US$15,000", 15000}, {"USD $7,500.25", 7500.25}, {"$ 900", 900},
		{"1,234,567 dollars", 1234567}, {"500 bucks", 500}, {"25 000$", 25000}, {"45 тыс. долларов", 45000},
		{"3 млн долларов", 3e6}, {"2,5 тысячи долларов", 2500}, {"30 000 долл.", 30000},
		{"$20k,$30k", 30000}, {"$10k-$20k", 20000},
		{"500 000 руб", 0}, {"€9,000", 0}, {"C$900", 0}, {"A$5", 0}, {"25000", 0}, {"$", 0},
		{"$100 more", 100}, {"$5 m", 5e6}, {"25kUSD", 25000}, {"version 2.0", 0},
	}
	for _, tc := range tests {
		got, ok := maxUSD(newKwText("", tc.text).low)
		if !ok {
			got = 0
		}
		if got != tc.want {
			t.Errorf("maxUSD(%q) = %v, %v; want %v", tc.text, got, ok, tc.want)
		}
	}
}

func TestClassifyFormatUSD(t *testing.T) {
	for v, want := range map[float64]string{
		0: "$0", 1: "$1", 999: "$999", 1000: "$1,000", 10000: "$10,000", 25000: "$25,000",
		1234567: "$1,234,567", 2500.5: "$2,500.50", 10000.05: "$10,000.05", 12.999: "$13",
		1e15: "$1,000,000,000,000,000",
	} {
		if got := formatUSD(v); got != want {
			t.Errorf("formatUSD(%v) = %q, want %q", v, got, want)
		}
	}
}
