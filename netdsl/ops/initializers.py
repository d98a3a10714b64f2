"""Named parameter initialisers: `init: zeros`, `init: {fn: normal, std: 0.02}`.

The schemas are torch-free (checked by `netdsl validate`); ``apply_init``, in the lowering half
(netdsl/ops/lowerings/initializers.py), runs the matching ``torch.nn.init`` function at build time.
"""

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from netdsl.core.errors import SpecValidationError

Number = float | int


_FLOAT32_MAX = 3.4028234663852886e38


class _Init(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    @model_validator(mode="after")
    def _finite(self) -> "_Init":
        """Every number is finite and fits float32 (the parameters' dtype); ranges are ordered."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
                    raise ValueError(f"{name} must be a finite float32 number, got {value!r}")
        std = getattr(self, "std", None)
        if std is not None and std < 0:
            raise ValueError(f"std must be >= 0, got {std!r}")
        a, b = getattr(self, "a", None), getattr(self, "b", None)
        if b is not None and a is not None and not a < b:
            raise ValueError(f"the range needs a < b, got a={a!r}, b={b!r}")
        return self


class Zeros(_Init):
    pass


class Ones(_Init):
    pass


class Constant(_Init):
    value: Number


class Normal(_Init):
    mean: Number = 0.0
    std: Number = 1.0


class TruncNormal(_Init):
    mean: Number = 0.0
    std: Number = 1.0
    a: Number = -2.0
    b: Number = 2.0


class Uniform(_Init):
    a: Number = 0.0
    b: Number = 1.0


class Kaiming(_Init):
    a: Number = 0.0
    mode: Literal["fan_in", "fan_out"] = "fan_in"
    nonlinearity: Literal["relu", "leaky_relu", "linear", "sigmoid", "tanh"] = "leaky_relu"


class Xavier(_Init):
    gain: Number = 1.0


INITIALIZERS: dict[str, tuple[type[_Init], str]] = {
    "zeros": (Zeros, "zeros_"),
    "ones": (Ones, "ones_"),
    "constant": (Constant, "constant_"),
    "normal": (Normal, "normal_"),
    "trunc_normal": (TruncNormal, "trunc_normal_"),
    "uniform": (Uniform, "uniform_"),
    "kaiming_normal": (Kaiming, "kaiming_normal_"),
    "kaiming_uniform": (Kaiming, "kaiming_uniform_"),
    "xavier_normal": (Xavier, "xavier_normal_"),
    "xavier_uniform": (Xavier, "xavier_uniform_"),
}

InitSpec = str | dict[str, Any]


def parse_init(spec: object) -> tuple[str, dict[str, Any]]:
    """Check an initialiser spec; return (name, keyword arguments). Raises SpecValidationError."""
    if isinstance(spec, str):
        name, kwargs = spec, {}
    elif isinstance(spec, dict) and isinstance(spec.get("fn"), str):
        name, kwargs = spec["fn"], {k: v for k, v in spec.items() if k != "fn"}
    else:
        raise SpecValidationError(
            "an initialiser is a name (`zeros`) or a mapping with `fn` (`{fn: normal, std: 0.02}`)",
            expected=INITIALIZERS,
        )
    if name not in INITIALIZERS:
        from netdsl.core.suggest import did_you_mean

        raise SpecValidationError(
            f"unknown initialiser {name!r}", expected=INITIALIZERS, hint=did_you_mean(name, INITIALIZERS)
        )
    model, _ = INITIALIZERS[name]
    try:
        parsed = model.model_validate(kwargs)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = str(first["msg"]).removeprefix("Value error, ")
        fields = ", ".join(model.model_fields) or "none"
        raise SpecValidationError(
            f"initialiser {name!r}: {where or 'arguments'}: {msg} (arguments: {fields})"
        ) from None
    return name, parsed.model_dump()
