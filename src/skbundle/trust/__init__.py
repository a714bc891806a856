"""Trust: what decides whether bytes from a bundle may become objects.

- ``allowlist``: the names a model file may import or construct, and nothing from the file;
- ``audit``: the pickle audit (and the magic-byte sniffing it needs), reading opcodes only;
- ``skops_types``: every type a skops file would construct, read from its schema as data;
- ``onnx_check``: an ONNX graph must not read data from outside its file;
- ``fitted``: the tree structures a constructed model holds cannot make compiled code read
  outside its arrays or loop forever;
- ``signing``: Ed25519 signatures over the exact bytes of ``bundle.json``.

Nothing here constructs a model; the format handlers (``skbundle.formats``) call these checks
before they do. The package imports none of its modules, so each stays light on its own.
"""

__all__ = ["allowlist", "audit", "fitted", "onnx_check", "signing", "skops_types"]
