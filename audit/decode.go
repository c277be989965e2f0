package audit

import (
	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/purepool/purepool/events"
)

// decode is events.Decode, several times faster: the same catalogue structs
// filled by the encoding/json v2 engine (go-json-experiment/json) run with
// DefaultOptionsV1, i.e. exactly encoding/json's semantics (case-insensitive
// names, last duplicate wins, invalid UTF-8 replaced). Decoding is most of a
// replay's cost. Anything it does not recognise, and every failure, goes to
// events.Decode, so errors read the same; TestDecodeMatchesEventsDecode
// keeps the two equal and notices new catalogue types.
func decode(env events.Envelope) (events.Event, error) {
	f, ok := fastDecoders[env.Type]
	if !ok || env.SchemaVersion != events.SchemaVersion {
		return events.Decode(env)
	}
	e, err := f(env.Data)
	if err != nil {
		return events.Decode(env)
	}
	return e, nil
}

var v1Semantics = jsonv1.DefaultOptionsV1()

func fast[T events.Event](data []byte) (events.Event, error) {
	var v T
	err := jsonv2.Unmarshal(data, &v, v1Semantics)
	return v, err
}

var fastDecoders = map[string]func([]byte) (events.Event, error){
	events.TypeMinerRegistered:    fast[events.MinerRegistered],
	events.TypeWorkerRegistered:   fast[events.WorkerRegistered],
	events.TypeMinerDisabled:      fast[events.MinerDisabled],
	events.TypeMinerEnabled:       fast[events.MinerEnabled],
	events.TypeMinerTargetChanged: fast[events.MinerTargetChanged],
	events.TypeWorkIssued:         fast[events.WorkIssued],
	events.TypeSolutionAccepted:   fast[events.SolutionAccepted],
	events.TypeSolutionRejected:   fast[events.SolutionRejected],
	events.TypeBibleHashReserved:  fast[events.BibleHashReserved],
	events.TypeChainBlockRecorded: fast[events.ChainBlockRecorded],
	events.TypeBlockDiscovered:    fast[events.BlockDiscovered],
	events.TypeRoundClosed:        fast[events.RoundClosed],
	events.TypeBlockConfirmed:     fast[events.BlockConfirmed],
	events.TypeBlockMatured:       fast[events.BlockMatured],
	events.TypeBlockOrphaned:      fast[events.BlockOrphaned],
	events.TypeMinerCredited:      fast[events.MinerCredited],
	events.TypeFeeCredited:        fast[events.FeeCredited],
	events.TypeCreditReversed:     fast[events.CreditReversed],
	events.TypePayoutPlanned:      fast[events.PayoutPlanned],
	events.TypePayoutSent:         fast[events.PayoutSent],
	events.TypePayoutConfirmed:    fast[events.PayoutConfirmed],
	events.TypePayoutFailed:       fast[events.PayoutFailed],
	events.TypePayoutHalted:       fast[events.PayoutHalted],
	events.TypePayoutConflicted:   fast[events.PayoutConflicted],
	events.TypePayoutSigned:       fast[events.PayoutSigned],
	events.TypePayoutTxDead:       fast[events.PayoutTxDead],
	events.TypePayoutCorrected:    fast[events.PayoutCorrected],
	events.TypePoolInstalled:      fast[events.PoolInstalled],
	events.TypePayoutsPaused:      fast[events.PayoutsPaused],
	events.TypePayoutsResumed:     fast[events.PayoutsResumed],
	events.TypePoolPolicySet:      fast[events.PoolPolicySet],
	events.TypeLateSharesCounted:  fast[events.LateSharesCounted],
	events.TypeRoundEmpty:         fast[events.RoundEmpty],
	events.TypeLeaseTaken:         fast[events.LeaseTaken],
}
