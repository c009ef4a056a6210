"""The success model's dataset: the engine's own candidates on history, labelled by the
triple-barrier method with the engine's own stop and first target.

For each symbol:
1. `SignalPipeline.decide` runs over the symbol's candles (those before `until` only),
   with the higher timeframe resampled from them, exactly as the backtester runs it;
2. the candidates are the rows the engine accepts (`scope="accepted"`) or every candidate
   of the base strategy after warm-up, whether the filters accepted it or not
   (`scope="base"`); their stop and targets come from the engine's stop rules, computed by
   the same pipeline with the filters removed (filters do not change the levels);
3. features: `ml.spec.candidate_features().table` on `pipeline.candidate(...)`, the very
   call the live `SuccessFilter` makes, so training and serving compute features by one
   code path;
4. labels: `ml.labels.triple_barrier` with the candidate's stop and TP1 over `horizon`
   candles (fill at the next candle's open); samples whose outcome the data cannot decide
   yet are dropped.

No feature uses a candle after its decision candle: the pipeline is causal per row and the
features read the candidate's frame, which ends at the decision candle.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from core.exchange.replay import resample
from core.models import Side
from core.signals.engine import SignalPipeline
from core.signals.filters import PASS
from core.signals.playbooks import Playbook
from ml.features import CandidateFeatures
from ml.labels import ExitReason, triple_barrier
from ml.train_success import SuccessDataset


class CandidateScope(enum.StrEnum):
    ACCEPTED = "accepted"  # what the engine would have signalled (the filters passed)
    BASE = "base"  # every base-strategy candidate after warm-up


@dataclass(frozen=True, slots=True)
class LabelConfig:
    """How a candidate's outcome is decided."""

    horizon: int = 48  # candles the trade is watched for (2 days of 1 h candles)
    target: str = "tp1"  # the take-profit barrier: "tp1" (then break-even) or "tp2"

    def __post_init__(self) -> None:
        if self.target not in ("tp1", "tp2"):
            raise ValueError(f"target must be tp1 or tp2, got {self.target!r}")
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1 candle, got {self.horizon}")


INFO_COLUMNS = ("symbol", "decision_time", "side", "accepted", "engine_reason", "regime")


@dataclass(frozen=True, slots=True)
class EngineDataset:
    """Labelled engine candidates of several symbols, in time order, with the decided
    frames they came from."""

    samples: SuccessDataset
    info: pd.DataFrame  # INFO_COLUMNS + exit_reason, aligned with `samples`
    frames: dict[str, pd.DataFrame]  # symbol -> decided frame (candles before `until`)
    scope: CandidateScope
    labels: LabelConfig

    def summary(self) -> dict[str, object]:
        info, samples = self.info, self.samples
        return {
            "scope": self.scope.value,
            "samples": len(samples),
            "accepted_by_engine": int(info["accepted"].sum()),
            "success_rate": float(samples.success.mean()) if len(samples) else float("nan"),
            "mean_return_pct": float(samples.return_pct.mean()) if len(samples) else float("nan"),
            "per_symbol": {str(k): int(v) for k, v in info["symbol"].value_counts().sort_index().items()},
            "label_horizon": self.labels.horizon,
            "label_target": self.labels.target,
        }


def pipelines(playbook: Playbook, timeframe: str) -> tuple[SignalPipeline, SignalPipeline]:
    """The engine's pipeline and the same one without its filters (for base candidates)."""
    engine = SignalPipeline(playbook, timeframe)
    unfiltered = SignalPipeline(dataclasses.replace(playbook, filters=()), timeframe, engine.higher_timeframe)
    return engine, unfiltered


def decide(pipeline: SignalPipeline, candles: pd.DataFrame, with_higher: bool | None = None) -> pd.DataFrame:
    """`pipeline.decide` with the higher timeframe resampled from `candles` (as the
    backtester does) when `with_higher` (default: when the pipeline's playbook confirms
    on it; the engine reads the higher timeframe only then)."""
    if with_higher is None:
        with_higher = pipeline.playbook.uses_higher_timeframe
    higher = resample(candles, pipeline.higher_timeframe) if with_higher else None
    return pipeline.decide(candles, higher)


def candidate_rows(
    symbol: str,
    candles: pd.DataFrame,
    playbook: Playbook,
    timeframe: str,
    features: CandidateFeatures,
    scope: CandidateScope,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Unlabelled candidates of one symbol: (features, info with stop and targets, the
    engine's decided frame). Row order is time order."""
    engine, unfiltered = pipelines(playbook, timeframe)
    decided = decide(engine, candles)
    base = decide(unfiltered, candles, playbook.uses_higher_timeframe)  # the features the engine sees
    accepted = (decided["side"] != 0).to_numpy() & (decided["reason"] == PASS).to_numpy()
    proposed = (base["side"] != 0).to_numpy() & (base["reason"] == PASS).to_numpy()
    rows = np.flatnonzero(accepted if scope is CandidateScope.ACCEPTED else proposed)
    candidates = [unfiltered.candidate(symbol, base, int(row)) for row in rows]
    table = features.table(candidates)
    reasons = decided["reason"].to_numpy(dtype=object)[rows]
    info = pd.DataFrame(
        {
            "symbol": symbol,
            "decision_time": base.index[rows],
            "side": [c.side.sign for c in candidates],
            "accepted": accepted[rows],
            "engine_reason": np.where(reasons == PASS, "accepted", reasons),
            "regime": [c.regime for c in candidates],
            "row": rows,
            "stop": [c.levels.stop for c in candidates],
            "tp1": [c.levels.tp1 for c in candidates],
            "tp2": [c.levels.tp2 for c in candidates],
        }
    )
    return table, info, decided


def build_dataset(
    candles: Mapping[str, pd.DataFrame],
    playbook: Playbook,
    timeframe: str,
    features: CandidateFeatures,
    scope: CandidateScope = CandidateScope.BASE,
    labels: LabelConfig | None = None,
    until: pd.Timestamp | None = None,
    progress: bool = False,
) -> EngineDataset:
    """Labelled candidates of every symbol, candles at or after `until` left out."""
    labels = labels or LabelConfig()
    tables, infos, frames = [], [], {}
    for symbol, data in tqdm(candles.items(), desc="candidates", unit="symbol", disable=not progress, file=sys.stderr):
        data = data if until is None else data[data.index < until]
        needed = playbook.warmup(timeframe) + 1
        if len(data) <= needed:
            raise ValueError(f"{symbol}: {len(data)} candles, the engine needs more than {needed}")
        table, info, decided = candidate_rows(symbol, data, playbook, timeframe, features, scope)
        frames[symbol] = decided
        if table.empty:
            continue
        outcome = triple_barrier(
            data,
            info["row"].to_numpy(),
            [Side.LONG if s > 0 else Side.SHORT for s in info["side"]],
            info["stop"].to_numpy(),
            info[labels.target].to_numpy(),
            labels.horizon,
        )
        keep = outcome.complete
        info = info.assign(
            success=outcome.success,
            return_pct=outcome.return_pct,
            label_end_time=data.index[np.minimum(outcome.label_end, len(data) - 1)],
            exit_reason=[ExitReason(code).name.lower() for code in outcome.exit_reason],
        )
        tables.append(table[keep])
        infos.append(info[keep])
    if not tables:
        raise ValueError("the engine made no labelled candidate on these candles")
    table = pd.concat(tables, ignore_index=True)
    info = pd.concat(infos, ignore_index=True)
    order = np.argsort(info["decision_time"].to_numpy(), kind="stable")
    table, info = table.iloc[order].reset_index(drop=True), info.iloc[order].reset_index(drop=True)
    samples = SuccessDataset(
        features=table,
        success=info["success"].to_numpy(dtype=bool),
        return_pct=info["return_pct"].to_numpy(dtype=float),
        decision_time=pd.DatetimeIndex(info["decision_time"]),
        label_end_time=pd.DatetimeIndex(info["label_end_time"]),
    )
    columns = [*INFO_COLUMNS, "exit_reason"]
    return EngineDataset(samples, info[columns], frames, scope, labels)
