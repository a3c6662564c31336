"""The classifier zoo's names, in timm's ``register_model`` shape; light (no torch at import).

The built-in models are declared here (name, one-line help, options dataclass, builder's module and
name, default input side), so configs, sweeps and ``--help`` list and check them without importing
torch; :mod:`tiledet.classify.models` registers each builder with ``@register_model(name,
options=...)``, checked against the declaration. A model of one's own is registered the same way::

    @register_model("tiny", options=TinyOptions, help="mean colour -> Linear")
    def build_tiny(opts: TinyOptions, outputs: int, size: int) -> nn.Module: ...

after which ``TrainConfig(model="tiny")``, ``build_model("tiny", ...)`` and ``classify train --model``
accept it. ``list_models()`` gives the names, ``get_model(name)`` a :class:`ModelSpec`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from tiledet.classify.options import CnnOptions, MlpOptions, ResnetOptions, VggOptions, parse_options
from tiledet.errors import ConfigError

Builder = TypeVar("Builder", bound=Callable[..., Any])


@dataclass(frozen=True)
class ModelSpec:
    """One registered classifier.

    Attributes:
        name: the model's name (``--model``, ``TrainConfig.model``, checkpoints' ``model_name``).
        help: one-line description (``--model`` help).
        options: frozen dataclass of the builder's options (``--option`` keys); it has ``box_head``.
        module: module of the builder.
        builder: the builder's qualified name in ``module``.
        input_size: input side in px when ``TrainConfig.input_size`` is None.
    """

    name: str
    help: str
    options: type
    module: str
    builder: str
    input_size: int = 32


_MODELS = "tiledet.classify.models"
#: The built-in models; their builders register from :mod:`tiledet.classify.models`.
_DECLARED = {
    spec.name: spec
    for spec in (
        ModelSpec("mlp", "flattened pixels -> Linear + ReLU layers", MlpOptions, _MODELS, "_build_mlp"),
        ModelSpec("cnn", "valid convolutions, 2x downsampling per block", CnnOptions, _MODELS, "_build_cnn"),
        ModelSpec("vgg", "padded 3x3 convolution blocks, global average pooling", VggOptions, _MODELS,
                  "_build_vgg"),
        ModelSpec("resnet18", "torchvision ResNet-18, random init or local --weights", ResnetOptions,
                  _MODELS, "_build_resnet18", input_size=64),
    )
}  # fmt: skip
_REGISTRY: dict[str, ModelSpec] = dict(_DECLARED)
_BUILDERS: dict[str, Callable[..., Any]] = {}


def register_model(
    name: str, *, options: type, help: str | None = None, input_size: int | None = None
) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder(opts, outputs, size) -> nn.Module`` as model ``name``.

    The builder gets the parsed options dataclass, the number of outputs (classes, + 4 with
    ``box_head``) and the input side; it maps ``(N, 3, size, size)`` to ``(N, outputs)``.

    Args:
        name: the model's name.
        options: frozen options dataclass with a ``box_head`` field.
        help: one-line description; required unless ``name`` is built in (then it must match).
        input_size: default input side in px (32 unless declared otherwise).

    Raises:
        ValueError: a built-in name registered otherwise than declared, a name taken, or a missing,
            multi-line help, or options that are no dataclass with ``box_head``.
    """

    def decorate(builder: Builder) -> Builder:
        declared = _DECLARED.get(name) or ModelSpec(name, "", options, "", "")
        given = {"help": help, "input_size": input_size}
        spec = dataclasses.replace(
            declared, options=options, module=builder.__module__, builder=builder.__qualname__,
            **{key: value for key, value in given.items() if value is not None},
        )  # fmt: skip
        _check_spec(spec, _DECLARED.get(name))
        _REGISTRY[name] = spec
        _BUILDERS[name] = builder
        return builder

    return decorate


def _check_spec(spec: ModelSpec, declared: ModelSpec | None) -> None:
    """ValueError unless ``spec`` may be registered (as declared, or under a new name)."""
    where = f"register_model({spec.name!r})"
    if declared is not None and spec != declared:
        raise ValueError(f"{where}: {spec} differs from the declaration {declared}")
    if declared is None and spec.name in _REGISTRY:
        raise ValueError(f"{where}: the name is taken ({_REGISTRY[spec.name].module})")
    if not spec.help.strip() or "\n" in spec.help:
        raise ValueError(f"{where}: help must be one non-empty line")
    if not dataclasses.is_dataclass(spec.options) or "box_head" not in spec.options.__dataclass_fields__:
        raise ValueError(f"{where}: options must be a dataclass with a box_head field")


def unregister_model(name: str) -> None:
    """Remove model ``name`` registered with :func:`register_model` (built-in models stay).

    Raises:
        ValueError: ``name`` is built in.
    """
    if name in _DECLARED:
        raise ValueError(f"model {name!r} is built in; it cannot be unregistered")
    _REGISTRY.pop(name, None)
    _BUILDERS.pop(name, None)


def list_models() -> tuple[str, ...]:
    """Names of every model, built-in ones first, in registration order."""
    return tuple(_REGISTRY)


def get_model(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of model ``name``.

    Raises:
        ConfigError: no model of that name (one line, listing the names).
    """
    spec = _REGISTRY.get(name)
    if spec is None:
        raise ConfigError(f"model {name!r}: unknown; choose one of {', '.join(list_models())}")
    return spec


def model_builder(name: str) -> Callable[..., Any]:
    """The builder registered for model ``name`` (see :func:`register_model`).

    Raises:
        ConfigError: unknown name.
        LookupError: a built-in model whose module (:attr:`ModelSpec.module`) is not imported yet.
    """
    spec = get_model(name)
    if name not in _BUILDERS:
        raise LookupError(f"model {name!r}: its builder registers when {spec.module} is imported")
    return _BUILDERS[name]


def model_options(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """The frozen options dataclass of model ``name`` from a mapping.

    Raises:
        ConfigError: unknown model or option name, or a list option given something else.
    """
    return parse_options(get_model(name).options, name, options)
