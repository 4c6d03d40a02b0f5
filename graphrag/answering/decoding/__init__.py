"""How the answer LM's reply is decoded: the reply grammar, copying spans of the evidence, one ReplyDecoding value."""
