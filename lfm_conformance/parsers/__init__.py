"""Parser conformance without a server: vLLM's tool-call and reasoning parsers driven in-process
as its server drives them (`parser_driver`), model outputs generated as LFM2 models write them
(`generated_outputs`) and the recorded minimal failing cases (`parser_findings`).
May import `data` only."""
