"""The rest of the 互保 routine: the register, goals, the pledge, surveys, drills, the quarter."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    # --- the register (互保风险清单) ---
    "help.register": {"zh": "互保风险清单：已知风险、触发条件与应对", "en": "the risk register: known risks, "
                      "their triggers and agreed responses"},
    "help.register_add": {"zh": "新增清单条目（组长、管理员）", "en": "add a register entry (leader, admin)"},
    "help.register_edit": {"zh": "修改清单条目（组长、管理员）", "en": "edit a register entry (leader, admin)"},
    "help.register_remove": {"zh": "删除清单条目（组长、管理员）", "en": "remove a register entry (leader, admin)"},
    "help.register_trigger": {"zh": "清单风险发生：登记为跟踪风险并给出应对", "en": "a register risk occurred: "
                              "log it as a tracked risk with its agreed response"},
    "example.register add": {"zh": "/register add 发布回滚失败 !高 触发:发布后错误率>1% 应对:立即回滚并通知值班 @bob",
                             "en": "/register add failed rollback !high trigger:error rate >1% after a release "
                             "response:roll back at once and tell the on-duty @bob"},
    "example.register trigger": {"zh": "/register trigger R1 订单服务 10:05 发布后报错", "en":
                                 "/register trigger R1 orders service failing since the 10:05 release"},
    "register.subcommands": {
        "zh": "可用：/register · /register add <名称> [!高/!中/!低] 触发:<条件> 应对:<措施> [@负责人] · "
        "/register edit <Rn> … · /register remove <Rn> · /register trigger <Rn> [说明]",
        "en": "use: /register · /register add <name> [!high/!medium/!low] trigger:<condition> "
        "response:<response> [@owner] · /register edit <Rn> … · /register remove <Rn> · /register trigger <Rn> "
        "[details]",
    },
    "register.empty": {"zh": "互保风险清单还是空的。组长可用 /register add 添加。",
                       "en": "The risk register is empty. The leader adds entries with /register add."},
    "register.title": {"zh": "{group} · 互保风险清单（{count} 条）", "en": "{group} · risk register ({count})"},
    "register.line": {"zh": "R{number} [{level}] {name} · 负责人 {owner}", "en": "R{number} [{level}] {name} · "
                      "owner {owner}"},
    "register.line_trigger": {"zh": "  触发：{trigger}", "en": "  trigger: {trigger}"},
    "register.line_response": {"zh": "  应对：{response}", "en": "  response: {response}"},
    "register.line_stale": {"zh": "  ⚠ 已 {days} 天未复核", "en": "  ⚠ not reviewed for {days} days"},
    "register.no_owner": {"zh": "未指定", "en": "none"},
    "register.added": {"zh": "已加入互保风险清单：", "en": "Added to the risk register:"},
    "register.edited": {"zh": "已修改清单条目 R{number}：", "en": "Register entry R{number} changed:"},
    "register.removed": {"zh": "已从清单删除 R{number}（{name}）。", "en": "Removed R{number} ({name}) from the "
                         "register."},
    "register.need_number": {"zh": "请写清单编号，例如 R1。", "en": "Name the entry, e.g. R1."},
    "register.not_found": {"zh": "清单里没有 R{number}。", "en": "The register has no R{number}."},
    "register.need_fields": {"zh": "请写名称、触发:<条件> 和 应对:<措施>。", "en": "Give a name, trigger:<condition> "
                             "and response:<response>."},
    "register.field_twice": {"zh": "触发: 或 应对: 写了两次。", "en": "trigger: or response: is given twice."},
    "register.nothing_to_change": {"zh": "没有要修改的内容。", "en": "Nothing to change."},
    "register.risk_content": {"zh": "【清单 R{number}】{name}", "en": "[Register R{number}] {name}"},
    "register.response": {"zh": "📋 清单 R{number} 约定应对：{response}", "en": "📋 Agreed response (R{number}): "
                          "{response}"},
    "register.stale_title": {"zh": "**清单待复核**（{days} 天未复核，{count} 条）", "en": "**Register entries to "
                             "review** (not reviewed for {days} days: {count})"},
    "register.stale_line": {"zh": "- R{number} {name}（{days} 天）", "en": "- R{number} {name} ({days} days)"},
    "event.register.triggered": {"zh": "由互保风险清单触发", "en": "triggered from the risk register"},
}

MESSAGES.update({
    # --- goals and 目标达成率 ---
    "help.goal": {"zh": "互保小组目标与目标达成率", "en": "group goals and the goal achievement rate"},
    "help.goal_add": {"zh": "设定小组目标（组长、管理员）", "en": "set a group goal (leader, admin)"},
    "help.goal_done": {"zh": "目标已达成", "en": "mark a goal achieved"},
    "help.goal_drop": {"zh": "放弃目标（组长、管理员）", "en": "drop a goal (leader, admin)"},
    "help.goal_list": {"zh": "目标列表与本季度目标达成率", "en": "the goals and this quarter's achievement rate"},
    "example.goal add": {"zh": "/goal add 本季度完成全部服务的回滚演练 due:2026-12-31 @bob",
                         "en": "/goal add rollback drill for every service due:2026-12-31 @bob"},
    "goals.subcommands": {
        "zh": "可用：/goal list · /goal add <目标> [due:<日期>] [@负责人] · /goal done <Gn> [说明] · "
        "/goal drop <Gn> [原因]",
        "en": "use: /goal list · /goal add <goal> [due:<date>] [@owner] · /goal done <Gn> [note] · "
        "/goal drop <Gn> [reason]",
    },
    "goals.empty": {"zh": "还没有小组目标。组长可用 /goal add 设定。", "en": "No group goals yet. The leader sets "
                    "them with /goal add."},
    "goals.title": {"zh": "{group} · 小组目标（{count} 个）", "en": "{group} · group goals ({count})"},
    "goals.line": {"zh": "G{number} {text} · {owner} · 截止 {due} · {status}", "en": "G{number} {text} · {owner} · "
                   "due {due} · {status}"},
    "goals.no_due": {"zh": "未定", "en": "none"},
    "goals.status_open": {"zh": "进行中", "en": "open"},
    "goals.status_overdue": {"zh": "已过期", "en": "past due"},
    "goals.status_done": {"zh": "已达成", "en": "achieved"},
    "goals.status_dropped": {"zh": "已放弃", "en": "dropped"},
    "goals.added": {"zh": "已设定目标 G{number}：{text}\n负责人：{owner} · 截止：{due}", "en": "Goal G{number} set: "
                    "{text}\nOwner: {owner} · due: {due}"},
    "goals.done": {"zh": "🎯 目标 G{number} 已达成：{text}", "en": "🎯 Goal G{number} achieved: {text}"},
    "goals.done_late": {"zh": "目标 G{number} 已完成（晚于截止时间，不计入达成率）：{text}",
                        "en": "Goal G{number} done (after its due time, so not counted as achieved): {text}"},
    "goals.dropped": {"zh": "已放弃目标 G{number}：{text}", "en": "Goal G{number} dropped: {text}"},
    "goals.already_closed": {"zh": "目标 G{number} 已经是「{status}」。", "en": "Goal G{number} is already {status}."},
    "goals.need_number": {"zh": "请写目标编号，例如 G1。", "en": "Name the goal, e.g. G1."},
    "goals.not_found": {"zh": "没有目标 G{number}。", "en": "There is no goal G{number}."},
    "goals.rate": {"zh": "目标达成率：{rate}（按期达成 {achieved} / 到期 {due}）", "en": "Goal achievement rate: "
                   "{rate} ({achieved} achieved by their due time / {due} due)"},
    "goals.rate_before": {"zh": "（上期 {rate}）", "en": " (before: {rate})"},
    "goals.this_quarter": {"zh": " · 本季度", "en": " · this quarter"},
    "goals.section": {"zh": "**小组目标**", "en": "**Group goals**"},
    "goals.soon_line": {"zh": "- 即将到期 G{number} {text} · {owner} · {due}", "en": "- due soon G{number} {text} · "
                        "{owner} · {due}"},
    "goals.overdue_line": {"zh": "- 已过期 G{number} {text} · {owner} · {due}", "en": "- past due G{number} {text} · "
                           "{owner} · {due}"},
})

MESSAGES.update({
    # --- the pledge (互保责任书) ---
    "help.admin_pledge": {"zh": "设定本组互保责任书（组长、管理员）", "en": "set the group's mutual-guarantee "
                          "pledge (leader, admin)"},
    "help.pledge": {"zh": "查看互保责任书与确认情况", "en": "the pledge and who has confirmed it"},
    "help.pledge_confirm": {"zh": "确认互保责任书", "en": "confirm the pledge"},
    "example.admin pledge": {"zh": "/admin pledge 发现风险 1 小时内提醒伙伴；收到提醒 1 小时内响应；知情不报者担责。",
                             "en": "/admin pledge remind your partner within 1 hour of seeing a risk; answer a "
                             "reminder within 1 hour; whoever knew and kept silent is liable."},
    "pledge.none": {"zh": "本组还没有互保责任书。组长可用 /admin pledge <内容> 设定。",
                    "en": "This group has no pledge yet. The leader sets one with /admin pledge <text>."},
    "pledge.set": {"zh": "📜 互保责任书已更新：\n{text}\n请每位成员发送 /pledge confirm（/确认责任书）确认。",
                   "en": "📜 The group's pledge is set:\n{text}\nEveryone, please confirm with /pledge confirm."},
    "pledge.title": {"zh": "{group} · 互保责任书（{by} 于 {at} 设定）", "en": "{group} · pledge (set by {by}, {at})"},
    "pledge.confirmed_title": {"zh": "已确认 {count}/{total}：", "en": "Confirmed {count}/{total}:"},
    "pledge.confirmed_line": {"zh": "- {name}（{at}）", "en": "- {name} ({at})"},
    "pledge.waiting": {"zh": "未确认：{names}", "en": "Not yet confirmed: {names}"},
    "pledge.thanks": {"zh": "{name} 已确认互保责任书（{at}）。", "en": "{name} confirmed the pledge ({at})."},
    "pledge.already": {"zh": "你已在 {at} 确认过本版责任书。", "en": "You confirmed this pledge at {at}."},
    "pledge.welcome": {"zh": "欢迎 {name}！本组有互保责任书，请先用 /pledge 阅读，再发送 /pledge confirm 确认。",
                       "en": "Welcome, {name}! This group has a pledge: read it with /pledge and confirm it with "
                       "/pledge confirm."},
    "pledge.evidence_reminded": {"zh": "责任依据：{reporter} 于 {at} 提醒 {owner}", "en": "Liability record: "
                                 "{reporter} reminded {owner} at {at}"},
    "pledge.evidence_acked": {"zh": "；{who} 于 {at} 确认", "en": "; acknowledged by {who} at {at}"},
    "pledge.evidence_unacked": {"zh": "；尚无人确认", "en": "; not acknowledged yet"},
    "help.topic_liability": {
        "zh": "互保责任规则：发现风险并及时提醒（/risk）的成员不承担责任，知情不报、沉默不提醒的成员承担责任。"
        "每条提醒的提醒人、时间、被提醒人与确认人都记录在 /show 的时间线和导出表中，作为依据。",
        "en": "The pledge's liability rule: a member who reminded in time (/risk) is not liable; a member who knew "
        "and kept silent is. Who reminded whom and when, and who acknowledged, is recorded for every risk in /show "
        "and the export as the evidence.",
    },
})

MESSAGES.update({
    # --- drills (演练) ---
    "help.incident_drill": {"zh": "开始应急演练（组长、管理员）", "en": "start an emergency drill (leader, admin)"},
    "help.incident_finding": {"zh": "记录演练发现的问题（成为跟踪风险）", "en": "record a problem a drill found (it "
                              "becomes a tracked risk)"},
    "example.incident drill": {"zh": "/incident drill 主库宕机切换备库", "en": "/incident drill primary database "
                               "down, fail over"},
    "example.incident finding": {"zh": "/incident finding 切换脚本缺少权限 @bob", "en": "/incident finding the "
                                 "fail-over script lacks a permission @bob"},
    "drill.need_scenario": {"zh": "请写演练场景。", "en": "Describe the drill's scenario."},
    "drill.mark": {"zh": "【演练】{title}", "en": "[DRILL] {title}"},
    "drill.started": {
        "zh": "【演练】{title}\n应急演练开始（不是真实事故）：每 {every} 请用 /incident update <进展> 同步进展；"
        "结束后组长发送 /incident end [总结]。",
        "en": "[DRILL] {title}\nAn emergency drill starts (not a real incident): post progress with /incident update "
        "<text> at least every {every}; the leader ends it with /incident end [summary].",
    },
    "drill.timeline_title": {"zh": "演练结束 · {title}", "en": "Drill over · {title}"},
    "drill.ask_findings": {"zh": "**复盘**：演练发现了哪些问题？请逐条用 /incident finding <问题> [@负责人] 记录，"
                           "每条都会成为跟踪风险。", "en": "**Review**: what problems did the drill find? Record each "
                           "with /incident finding <problem> [@owner]; each becomes a tracked risk."},
    "drill.none": {"zh": "本组还没有演练。组长可用 /incident drill <场景> 开始。", "en": "This group has held no drill "
                   "yet. The leader starts one with /incident drill <scenario>."},
    "drill.finding_recorded": {"zh": "已记录演练「{title}」发现的问题：", "en": "Problem found by the drill "
                               "\u201c{title}\u201d recorded:"},
    "incident.entry_finding": {"zh": "- {at} {actor} 发现问题：{text}", "en": "- {at} {actor} found: {text}"},
})

MESSAGES.update({
    # --- the quarterly evaluation (季度互保工作评估) ---
    "help.survey": {"zh": "季度互保工作评估：进度或上次结果", "en": "the quarterly evaluation: its state, or the last "
                    "results"},
    "help.survey_start": {"zh": "发起季度互保工作评估（组长、管理员）", "en": "start the quarterly evaluation "
                          "(leader, admin)"},
    "help.survey_answer": {"zh": "作答评估（三项各 1–5 分，可附意见）", "en": "answer the evaluation (1–5 for each "
                           "of the three questions, optional comment)"},
    "help.survey_end": {"zh": "结束评估并公布匿名结果（组长、管理员）", "en": "close the evaluation and post the "
                        "anonymous results (leader, admin)"},
    "example.survey answer": {"zh": "/survey answer 4 5 3 沟通可以再快一点", "en": "/survey answer 4 5 3 replies "
                              "could be quicker"},
    "survey.subcommands": {
        "zh": "可用：/survey · /survey start [标题] · /survey answer <1-5> <1-5> <1-5> [意见] · /survey end",
        "en": "use: /survey · /survey start [title] · /survey answer <1-5> <1-5> <1-5> [comment] · /survey end",
    },
    "survey.q1": {"zh": "责任是否清晰", "en": "Are responsibilities clear"},
    "survey.q2": {"zh": "沟通是否高效", "en": "Is communication efficient"},
    "survey.q3": {"zh": "风险防控是否有效", "en": "Is risk prevention effective"},
    "survey.q1_short": {"zh": "责任", "en": "Duty"},
    "survey.q2_short": {"zh": "沟通", "en": "Talk"},
    "survey.q3_short": {"zh": "防控", "en": "Prevent"},
    "survey.button": {"zh": "{question} {score}", "en": "{question} {score}"},
    "survey.default_title": {"zh": "{quarter} 互保工作评估", "en": "{quarter} evaluation"},
    "survey.title": {"zh": "季度互保工作评估 · {title}", "en": "Quarterly evaluation · {title}"},
    "survey.questionnaire": {
        "zh": "请为以下三项各打 1–5 分（5 最好），匿名统计：\n1. 责任是否清晰\n2. 沟通是否高效\n3. 风险防控是否有效\n"
        "点击卡片按钮，或发送 /survey answer 4 5 3 [意见]。截止 {until} 前可修改。",
        "en": "Score each from 1 to 5 (5 is best); results are anonymous:\n1. Are responsibilities clear\n"
        "2. Is communication efficient\n3. Is risk prevention effective\nUse the card's buttons or send "
        "/survey answer 4 5 3 [comment]. You may change it until {until}.",
    },
    "survey.already_open": {"zh": "已有进行中的评估：{title}（截止 {until}）。", "en": "An evaluation is already open: "
                            "{title} (until {until})."},
    "survey.none": {"zh": "本组还没有做过评估。组长可用 /survey start 发起。", "en": "No evaluation yet. The leader "
                    "starts one with /survey start."},
    "survey.not_open": {"zh": "当前没有进行中的评估。", "en": "No evaluation is open."},
    "survey.bad_scores": {"zh": "请为三项各写 1–5 分，例如 /survey answer 4 5 3。", "en": "Give a score from 1 to 5 "
                          "for each of the three questions, e.g. /survey answer 4 5 3."},
    "survey.thanks": {"zh": "已收到一份答卷（匿名统计，{until} 前可修改）。", "en": "Answer received (counted "
                      "anonymously; you may change it until {until})."},
    "survey.changed": {"zh": "已更新你的答卷（{until} 前可再次修改）。", "en": "Your answer is updated (you may "
                       "change it until {until})."},
    "survey.scored": {"zh": "已记录：{question} {score} 分", "en": "Recorded: {question} {score}"},
    "survey.status": {"zh": "评估进行中：{title}（截止 {until}）", "en": "Evaluation open: {title} (until {until})"},
    "survey.status_leader": {"zh": "已作答 {answered} 人，未作答 {waiting} 人。", "en": "{answered} answered, "
                             "{waiting} not yet."},
    "survey.status_mine_done": {"zh": "你已作答，截止前可修改。", "en": "You have answered; you may change it "
                                "until it closes."},
    "survey.status_mine_open": {"zh": "你还没有作答：/survey answer 4 5 3 [意见]。", "en": "You have not answered "
                                "yet: /survey answer 4 5 3 [comment]."},
    "survey.reminder": {"zh": "评估「{title}」将于 {until} 截止，还没作答的同事请用卡片按钮或 "
                        "/survey answer 4 5 3 作答。", "en": "The evaluation \u201c{title}\u201d closes at {until}; "
                        "if you have not answered yet, please use the card or /survey answer 4 5 3."},
    "survey.results_title": {"zh": "评估结果 · {title}", "en": "Evaluation results · {title}"},
    "survey.results_time": {"zh": "{start} — {end} · 作答 {answered}/{members} 人（匿名）", "en": "{start} — {end} · "
                            "{answered} of {members} answered (anonymous)"},
    "survey.result_line": {"zh": "- {question}：平均 {average}（{answers} 份）· {spread}", "en": "- {question}: "
                           "average {average} ({answers} answers) · {spread}"},
    "survey.spread": {"zh": "{score}分×{count}", "en": "{score}: {count}"},
    "survey.comments_title": {"zh": "**意见**（匿名）", "en": "**Comments** (anonymous)"},
    "survey.closed_auto": {"zh": "评估已到期自动结束。", "en": "The evaluation closed automatically."},
})

MESSAGES.update({
    # --- the quarterly report ---
    "help.summary_quarter": {"zh": "季度互保报告（本季度或上季度）", "en": "the quarterly report (this or last "
                             "quarter)"},
    "quarter.bad_which": {"zh": "请写 this（本季度）或 last（上季度）。", "en": "Write this or last."},
    "quarter.title": {"zh": "季度互保报告 · {group} · {quarter}", "en": "Quarterly report · {group} · {quarter}"},
    "quarter.period": {"zh": "{range}（截至 {as_of}，括号内为与上季度相比）", "en": "{range} (as of {as_of}; "
                       "changes against the previous quarter)"},
    "quarter.before": {"zh": "（上季度 {value}）", "en": " (previous quarter {value})"},
    "quarter.section_kinds": {"zh": "**风险级别与标签**", "en": "**Levels and tags**"},
    "quarter.levels": {"zh": "- 级别：{levels}", "en": "- Levels: {levels}"},
    "quarter.tags": {"zh": "- 最常见标签：{tags}", "en": "- Most frequent tags: {tags}"},
    "quarter.section_survey": {"zh": "**季度互保工作评估**", "en": "**Quarterly evaluation**"},
    "quarter.no_survey": {"zh": "本季度没有进行评估", "en": "no evaluation this quarter"},
    "quarter.survey_title": {"zh": "「{title}」", "en": "\u201c{title}\u201d"},
    "quarter.section_drills": {"zh": "**应急与演练**", "en": "**Incidents and drills**"},
    "quarter.incident_counts": {"zh": "- 演练 {drills} 次 · 真实应急 {incidents} 次（分开统计）",
                                "en": "- {drills} drills · {incidents} real incidents (counted apart)"},
    "quarter.drill_line": {"zh": "- 演练 {at} {title}（{span}）", "en": "- drill {at} {title} ({span})"},
    "quarter.ongoing": {"zh": "进行中", "en": "ongoing"},
})

MESSAGES.update({
    # --- the web page of the routine ---
    "page.nav_routine": {"zh": "清单与目标", "en": "Register & goals"},
    "routinepage.title": {"zh": "{group} · 风险清单、目标与评估", "en": "{group} · register, goals and evaluation"},
    "routinepage.register": {"zh": "互保风险清单", "en": "Risk register"},
    "routinepage.goals": {"zh": "小组目标", "en": "Group goals"},
    "routinepage.survey": {"zh": "季度互保工作评估", "en": "Quarterly evaluation"},
    "routinepage.survey_open": {"zh": "进行中（当前作答情况）", "en": "open (answers so far)"},
    "routinepage.number": {"zh": "编号", "en": "No."},
    "routinepage.name": {"zh": "风险", "en": "Risk"},
    "routinepage.level": {"zh": "级别", "en": "Level"},
    "routinepage.trigger": {"zh": "触发条件", "en": "Trigger"},
    "routinepage.response": {"zh": "约定应对", "en": "Agreed response"},
    "routinepage.owner": {"zh": "负责人", "en": "Owner"},
    "routinepage.goal": {"zh": "目标", "en": "Goal"},
    "routinepage.due": {"zh": "截止", "en": "Due"},
    "routinepage.status": {"zh": "状态", "en": "Status"},
    "routinepage.stale": {"zh": "待复核", "en": "to review"},
})
