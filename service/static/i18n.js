// UI wording in both languages. Field, dimension, reason and rule texts come from the API.
export const STRINGS = {
  app_title: ["TechScore 科创评分", "TechScore tech-credit score"],
  tab_assess: ["单户评估", "Assess a firm"],
  tab_history: ["评估记录", "History"],
  tab_batch: ["批量评分", "Batch scoring"],
  sign_in: ["登录", "Sign in"],
  sign_out: ["退出", "Sign out"],
  signin_title: ["客户经理登录", "Loan officer sign-in"],
  signin_hint: ["请输入 API 密钥。密钥只保存在本浏览器标签页的会话中，关闭即清除。",
    "Enter your API key. It is kept for this browser tab's session only."],
  api_key: ["API 密钥", "API key"],
  bad_key: ["API 密钥无效，请检查后重试。", "The API key was not accepted; check it and try again."],
  network_error: ["无法连接评分服务：", "Cannot reach the scoring service: "],
  examples: ["示例企业：", "Example firms:"],
  example_startup: ["初创期", "Startup"],
  example_growth: ["成长期", "Growth"],
  example_mature: ["成熟期", "Mature"],
  clear: ["清空", "Clear"],
  submit: ["提交评分", "Score this firm"],
  scoring: ["评分中…", "Scoring…"],
  fix_fields: ["有 {n} 个字段未通过校验，请按字段旁的提示修改。", "{n} field(s) failed validation; see the messages next to them."],
  required: ["必填", "required"],
  score: ["评分", "Score"],
  grade: ["等级", "Grade"],
  pd: ["违约概率", "PD"],
  stage: ["发展阶段", "Stage"],
  model_version: ["模型版本", "Model version"],
  assessment_id: ["评估编号", "Assessment"],
  radar_title: ["六维评级(同阶段百分位)", "Six dimension ratings (percentile within stage)"],
  legend_firm: ["本企业", "This firm"],
  legend_median: ["同阶段中位数(50)", "Stage median (50)"],
  points_title: ["分值构成", "How the score adds up"],
  dimension: ["维度", "Dimension"],
  points: ["分值", "Points"],
  rating: ["评级", "Rating"],
  base_points: ["基础分", "Base points"],
  clip_points: ["截断调整(300–900)", "Clip adjustment (300–900)"],
  total: ["合计 = 评分", "Total = score"],
  reasons_down: ["主要减分原因", "Main reasons down"],
  reasons_up: ["主要加分原因", "Main reasons up"],
  none: ["无", "None"],
  value: ["本企业", "firm"],
  median: ["同阶段中位数", "stage median"],
  missing: ["缺失", "missing"],
  knockouts: ["否决项(不论评分均拒绝)", "Knock-outs (decline whatever the score)"],
  no_knockouts: ["未触发否决项", "No knock-out hit"],
  recommendation: ["授信建议", "Credit recommendation"],
  limit: ["建议额度", "Suggested limit"],
  products: ["适用产品", "Eligible products"],
  joint_loan: ["联合贷款安排", "Joint-loan split"],
  banks: ["家银行", "banks"],
  rules: ["依据规则", "Rules applied"],
  decision_approve: ["建议批准", "Approve"],
  decision_refer: ["提交人工审批", "Refer to a credit officer"],
  decision_decline: ["建议拒绝", "Decline"],
  limit_steps: ["额度测算过程", "How the limit was computed"],
  role_lead: ["牵头行", "lead bank"],
  role_participant: ["参贷行", "participant"],
  policy_version: ["授信政策版本", "Policy version"],
  no_recommendation: ["本服务未提供授信建议。", "This service returns no credit recommendation."],
  whatif_title: ["假设分析：修改数值即时重算", "What-if: change a value to re-score live"],
  whatif_hint: ["下列字段驱动了主要原因，也可添加其他字段。可输入新数值，或相对变化如 +2、+20%、-10%。",
    "These fields drive the main reasons; add any other field below. Type a new value or a change such as +2, +20%, -10%."],
  whatif_add: ["添加字段…", "Add a field…"],
  whatif_reset: ["还原", "Reset"],
  whatif_was: ["原值", "was"],
  whatif_result: ["假设结果", "What-if result"],
  whatif_unchanged: ["尚未修改任何数值。", "No value changed yet."],
  stored_banner: ["已保存的评估，按原样显示(不重新计算)。", "Stored assessment, shown exactly as recorded (not re-scored)."],
  load_profile: ["载入该企业资料到表单", "Load this profile into the form"],
  history_title: ["我的评估记录", "My assessments"],
  filter_firm: ["按统一社会信用代码筛选", "Filter by credit code"],
  refresh: ["刷新", "Refresh"],
  col_time: ["时间", "Time"],
  col_firm: ["统一社会信用代码", "Credit code"],
  col_name: ["企业名称", "Company"],
  open: ["打开", "Open"],
  history_empty: ["暂无评估记录。", "No assessments yet."],
  batch_title: ["批量评分(CSV)", "Batch scoring (CSV)"],
  batch_hint: ["上传与单户表单字段相同的 CSV(可用中文表头)。不合规的行进入拒绝清单，注明行号、字段和规则。",
    "Upload a CSV with the profile fields as columns (Chinese headers accepted). Rows breaking a rule go to the rejects file with row, field and rule."],
  upload: ["上传并评分", "Upload and score"],
  uploading: ["上传中", "Uploading"],
  processing: ["评分中", "Scoring"],
  downloading: ["下载结果", "Receiving result"],
  done: ["完成", "Done"],
  batch_summary: ["共 {rows} 行：评分 {scored} 行，拒绝 {rejected} 行。", "{rows} rows: {scored} scored, {rejected} rejected."],
  download_scored: ["下载评分结果", "Download scored file"],
  download_rejects: ["下载拒绝清单", "Download rejects"],
  yes: ["是", "yes"],
  no: ["否", "no"],
  unit_wan: ["万元", "10k CNY"],
  stage_startup: ["初创期", "startup"],
  stage_growth: ["成长期", "growth"],
  stage_mature: ["成熟期", "mature"],
};

export function makeT(lang) {
  const i = lang === "en" ? 1 : 0;
  return (key, vars = {}) => {
    const pair = STRINGS[key];
    let s = pair ? pair[i] : key;
    for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, v);
    return s;
  };
}

/** Split the API's bilingual "中文 … / English …" message into [zh, en]. */
export function splitBilingual(msg) {
  if (!msg) return ["", ""];
  // The zh half of a rule message ends with its rule tag "[规则 …]": split right after it.
  const tag = msg.indexOf("[规则 ");
  const at = tag >= 0 ? msg.indexOf("] / ", tag) : msg.indexOf(" / ");
  if (at < 0) return [msg, msg];
  return tag >= 0 ? [msg.slice(0, at + 1), msg.slice(at + 4)] : [msg.slice(0, at), msg.slice(at + 3)];
}
