package webform

import (
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/ticketing"
)

type apiError = httpapi.Problem

// fail answers a JSON API error: {"error": {"code", "message", "field"}}.
func (s *Server) fail(c *gin.Context, err error) {
	e := s.logged(c, err)
	c.AbortWithStatusJSON(httpapi.Status(e.Kind), httpapi.Body(e))
}

// logged converts err, logs internal failures, and sets Retry-After where a retry will help.
func (s *Server) logged(c *gin.Context, err error) *ticketing.Error {
	return httpapi.Logged(c.Writer, c.Request, s.log, err)
}

// citizenMessage says an error in the form's language.
func citizenMessage(e *ticketing.Error) string {
	switch e.Kind {
	case ticketing.KindRateLimited:
		return "提交过于频繁，请稍后再试。"
	case ticketing.KindUnavailable:
		return "系统繁忙，您的反映尚未提交成功，请稍后重试。"
	case ticketing.KindInternal:
		return "系统出错，您的反映尚未提交成功，请稍后重试或拨打12345。"
	case ticketing.KindConflict:
		return "该表单已提交过不同的内容，请刷新页面后重新填写。"
	}
	switch e.Field {
	case "text":
		if e.Kind == ticketing.KindTooLarge {
			return "问题描述不能超过" + strconv.Itoa(ticketing.MaxTextRunes) + "字。"
		}
		return "请填写问题描述。"
	case "photos":
		switch e.Kind {
		case ticketing.KindUnsupported:
			return "只能上传 JPEG、PNG 或 WebP 格式的照片。"
		case ticketing.KindTooLarge:
			return "照片过大或过多：最多" + strconv.Itoa(ticketing.MaxAttachments) + "张，每张不超过10MB。"
		}
		return "照片无法识别，请换一张再试。"
	case "lat", "lon":
		return "位置坐标无效，请重新定位或只填写地址。"
	case "address":
		return "地址过长，请简要填写。"
	case "category":
		return "请选择列表中的问题分类。"
	case "contact.phone":
		return "请填写正确的电话号码，或留空匿名反映。"
	case "contact.name":
		return "姓名过长。"
	}
	if e.Kind == ticketing.KindTooLarge {
		return "提交的内容过大。"
	}
	return "提交的内容有误：" + e.Message
}
