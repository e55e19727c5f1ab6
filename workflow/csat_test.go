package workflow

import (
	"reflect"
	"testing"
)

func TestClassifyCSATReadings(t *testing.T) {
	tests := []struct {
		text string
		want []string // readings, in order
	}{
		{"CSAT: 2", []string{"2"}},
		{"csat 2/5", []string{"2"}},
		{"CSAT=1", []string{"1"}},
		{"satisfaction 2 out of 5", []string{"2"}},
		{"satisfaction score: 2", []string{"2"}},
		{"CSAT rating of 3.5", []string{"3.5"}},
		{"CSAT 4/10", []string{"4/10 (2 of 5)"}},
		{"CSAT 8 out of 10", []string{"8/10 (4 of 5)"}},
		{"CSAT 55%", []string{"55% (2.75 of 5)"}},
		{"customer rated us 1 out of 5", []string{"1"}},
		{"оценка 2 из 5", []string{"2"}},
		{"оценили нас на 3 из 10", []string{"3/10 (1.5 of 5)"}},
		{"удовлетворенность 2", []string{"2"}},
		{"CSAT 3, then CSAT 1", []string{"3", "1"}},
		{"CSAT 7", nil},
		{"CSAT 12/10", nil},
		{"CSAT 1/2", nil},
		{"CSAT survey", nil},
		{"rated us 2", nil},
		{"оценка 2", nil},
		{"dissatisfaction 1", nil},
		{"NPS 2/10", nil},
		{"CSAT 2.55", []string{"2.55"}},
	}
	for _, tc := range tests {
		var got []string
		for _, r := range csatReadings(newKwText("", tc.text).low) {
			got = append(got, r.String())
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("csatReadings(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}
