"""pjsua2 Endpoint and account settings for a telephone line: no threads of its own, 8 kHz
mono 20 ms audio, PCMU/PCMA only, SIP transports and RTP on the configured addresses."""

from __future__ import annotations

import pjsua2 as pj

from voicebot.telephony.settings import SipSettings

CODEC_IDS = {"PCMU": "PCMU/8000/1", "PCMA": "PCMA/8000/1"}


def configure_endpoint(ep: pj.Endpoint, s: SipSettings, sip_address: str, sip_port: int) -> None:
    """Initialise and start ``ep`` (created with ``libCreate``): codecs, transports."""
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = s.calls_per_worker
    cfg.uaConfig.userAgent = s.user_agent
    cfg.logConfig.level = s.log_level
    cfg.logConfig.consoleLevel = s.log_level
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.channelCount = 1
    cfg.medConfig.audioFramePtime = 20
    cfg.medConfig.ptime = 20
    cfg.medConfig.ecTailLen = 0
    cfg.medConfig.noVad = True
    cfg.medConfig.threadCnt = 1
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, 0)
    for rank, name in enumerate(s.codecs):
        ep.codecSetPriority(CODEC_IDS[name], 200 - rank)
    tcfg = pj.TransportConfig()
    tcfg.port = sip_port
    tcfg.boundAddress = sip_address
    kinds = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP}
    for t in s.transports:
        ep.transportCreate(kinds[t], tcfg)
    ep.libStart()


def account_config(
    s: SipSettings, sip_address: str, sip_port: int, rtp_port: int
) -> pj.AccountConfig:
    """The line's account: its identity, and RTP bound to ``s.media_address`` from ``rtp_port``."""
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:voicebot@{sip_address}:{sip_port}"
    # No re-INVITE to "lock" one codec when a peer answers with several.
    acfg.mediaConfig.lockCodecEnabled = False
    mt = acfg.mediaConfig.transportConfig
    mt.boundAddress = s.media_address
    mt.port = rtp_port
    mt.portRange = s.rtp_ports
    return acfg
