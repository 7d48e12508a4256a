# A SASL GSSAPI client on MIT's GSS-API library (python3-gssapi), the
# library Cyrus SASL's gssapi plugin (librdkafka, kcat) calls, doing
# what that plugin does: gss_init_sec_context with mutual authentication
# and sequencing, an empty answer once the context is complete, then
# gss_unwrap of the offer and gss_wrap (integrity only) of the choice
# "no security layer", a maximum size and the authorization id.
#
# Protocol on stdin/stdout: one hex token per line ("" for empty).
# argv[1]: the authorization id to send ("" for none).
import sys

import gssapi


def send(b):
    sys.stdout.write((b or b"").hex() + "\n")
    sys.stdout.flush()


def recv():
    line = sys.stdin.readline()
    if not line:
        sys.exit("the acceptor stopped")
    return bytes.fromhex(line.strip())


authzid = sys.argv[1].encode() if len(sys.argv) > 1 else b""
name = gssapi.Name("kafka@localhost", gssapi.NameType.hostbased_service)
flags = gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.out_of_sequence_detection | gssapi.RequirementFlag.integrity
ctx = gssapi.SecurityContext(name=name, usage="initiate", flags=flags)
send(ctx.step())
while not ctx.complete:
    out = ctx.step(recv())
    send(out)  # empty once the AP-REP is processed, as Cyrus sends it
offer = ctx.unwrap(recv())
if len(offer.message) != 4 or not offer.message[0] & 1:
    sys.exit("offer %s has no 'no security layer'" % offer.message.hex())
choice = bytes([1]) + offer.message[1:4] + authzid
send(ctx.wrap(choice, False).message)
