"""The success model's dataset: a playbook's own candidates on history, labelled by what
each would have made under the bot's exit rules (its realised R).

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
4. labels: `core.backtest.outcomes.trade_outcome`: confirmed at the next candle's open
   with the bot's entry check, then managed by the monitor's own rules (stop, TP1 part,
   break-even, trail, TP2) with fees and slippage, up to `horizon` candles. success = the
   realised R after fees is positive; the regressor learns the realised return %. A
   candidate refused at the open, or whose trade is still open when the data (or the
   horizon) ends, is dropped. This is the label the filter's decision is about: the
   trade's result as the bot would have managed it, not a barrier its exit never uses.

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

from core.backtest.outcomes import trade_outcome
from core.exchange.replay import resample
from core.models import Side, SignalLevels
from core.rules.entry import DEFAULT_MAX_DRIFT_R
from core.rules.fills import FillModel
from core.signals.engine import SignalPipeline
from core.signals.filters import PASS
from core.signals.playbooks import Playbook
from ml.features import CandidateFeatures
from ml.train_success import SuccessDataset


class CandidateScope(enum.StrEnum):
    ACCEPTED = "accepted"  # what the engine would have signalled (the filters passed)
    BASE = "base"  # every base-strategy candidate after warm-up


@dataclass(frozen=True, slots=True)
class LabelConfig:
    """How a candidate's outcome is decided."""

    horizon: int = 720  # candles a trade may stay open before it counts as undecided (30 days of 1 h)
    fills: FillModel = dataclasses.field(default_factory=FillModel)  # the bot's fees and slippage
    max_drift_r: float = DEFAULT_MAX_DRIFT_R  # the bot's MAX_ENTRY_DRIFT_R at confirmation

    def __post_init__(self) -> None:
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
            "label": "realised_r",
            "label_horizon": self.labels.horizon,
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
        info = info.assign(**_outcomes(data, info, decided, playbook, labels))
        keep = np.isfinite(info["r"].to_numpy())
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
        success=info["r"].to_numpy(dtype=float) > 0,
        return_pct=info["return_pct"].to_numpy(dtype=float),
        decision_time=pd.DatetimeIndex(info["decision_time"]),
        label_end_time=pd.DatetimeIndex(info["label_end_time"]),
    )
    columns = [*INFO_COLUMNS, "r", "return_pct"]
    return EngineDataset(samples, info[columns], frames, scope, labels)


def _outcomes(
    candles: pd.DataFrame, info: pd.DataFrame, decided: pd.DataFrame, playbook: Playbook, labels: LabelConfig
) -> dict[str, list[object]]:
    """Realised R, return % and exit time of each candidate (NaN when undecided)."""
    atr = decided["atr_14"].to_numpy(dtype=float)
    rs, returns, ends = [], [], []
    closes = candles["close"].to_numpy(dtype=float)
    for c in info[["row", "side", "stop", "tp1", "tp2"]].itertuples(index=False):
        row = int(c.row)
        side = Side.LONG if c.side > 0 else Side.SHORT
        levels = SignalLevels(side, float(closes[row]), float(c.stop), float(c.tp1), float(c.tp2))
        window = candles.iloc[: row + 1 + labels.horizon]
        rules, fills = playbook.management, labels.fills
        out = trade_outcome(window, row, levels, float(atr[row]), rules, fills, labels.max_drift_r)
        rs.append(out.r if out.complete else np.nan)
        returns.append(out.return_pct if out.complete else np.nan)
        ends.append(candles.index[out.exit_row])
    return {"r": rs, "return_pct": returns, "label_end_time": ends}
